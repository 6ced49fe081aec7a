"""The worker process: importing this module registers the agents of the worker's role (WIREWATCH_WORKER_ROLE)."""

from importlib import import_module

from streams.config import WorkerRole, get_settings

#: the agent modules each role runs; ``nlp`` and ``core`` together run what ``all`` runs
ROLES: dict[WorkerRole, tuple[str, ...]] = {
    "all": ("enrich", "story", "alert", "entities", "deliver", "store", "dashboard", "manage"),
    "nlp": ("enrich",),
    "core": ("story", "alert", "entities", "deliver", "store", "dashboard", "manage"),
}

for _module in ROLES[get_settings().worker_role]:
    import_module(f"agents.{_module}")
