"""The worker process: importing this module registers every worker agent on ``worker_app``."""

from agents import alert, common, dashboard, deliver, enrich, store

__all__ = ["alert", "common", "dashboard", "deliver", "enrich", "store"]
