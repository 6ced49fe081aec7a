"""The story stage: every enriched article assigned to a story across outlets, partitioned by candidate key."""
