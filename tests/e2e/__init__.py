"""The e2e test tier."""
