"""Faust agents: thin loops over the pure functions in ``streams``; importing a module registers its agents."""
