"""Wirewatch: live news feeds to entities, key events and alerts on Apache Kafka."""

__version__ = "0.1.0"
