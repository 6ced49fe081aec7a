"""The alert stage: watch rules, the live rulebook, mention rules per story and event rules."""
