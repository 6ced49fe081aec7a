"""The enrich stage: spaCy, canonical entities, the gazetteer of watched names and PLOVER key events."""
