"""The unit test tier."""
