"""The integration test tier."""
