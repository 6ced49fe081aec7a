"""Wirewatch tests: unit, functional, integration, e2e and chaos tiers."""
