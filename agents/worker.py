"""The worker process: importing this module registers every worker agent on ``worker_app``."""

from agents import alert, common, deliver, enrich, store

__all__ = ["alert", "common", "deliver", "enrich", "store"]
