"""The functional test tier."""
