"""The alert stage: watch rules, the live rulebook, stories per entity, mention rules and event rules."""
