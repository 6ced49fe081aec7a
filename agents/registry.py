"""The entity registry a worker holds: the resolver's index (enrich) and the keeper's (update_registry), both kept
current from ``wirewatch.entities`` by one follower per process."""

from __future__ import annotations

from agents.common import settings
from streams.enrich.registry import registry_of
from streams.enrich.registryfeed import RegistryFollower
from streams.kafka.apps import worker_app

#: what the enrich agent resolves against (fed by the follower through its queue, read on the NLP thread)
resolver = registry_of(settings)
#: what the registry agent counts mentions into and publishes from (on the event loop)
keeper = registry_of(settings)
#: follows the topic; the agent modules a worker runs add their registry as a target when imported
follower = RegistryFollower(settings)


@worker_app.task
async def follow_registry() -> None:
    """Keep this process's registries in step with ``wirewatch.entities``."""
    await follower.run()
