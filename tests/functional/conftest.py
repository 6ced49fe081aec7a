"""Every functional test starts from, and leaves behind, agents with no rules, empty tables and nothing opened.

The agents share module-global state (the live rulebook, the Faust tables, the delivery dispatcher, the sink);
Faust's test_context() does not reset it, so without this a rule or a table row one test leaves behind would
change what the next test sees.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import agents.common as common
import agents.deliver as deliver
import agents.registry as registry
from streams.enrich.gazetteer import Watchlist
from streams.kafka import topology

TABLES = (
    topology.feed_state_table, topology.entity_seen_table, topology.digest_table, topology.event_group_table,
    topology.story_article_table, topology.story_key_table, topology.story_table, topology.delivered_table,
)  # fmt: skip


def reset_agent_state() -> None:
    """No rules and the rulebook not ready, empty tables, no dispatcher, no sink."""
    common.rulebook.watchlist = Watchlist()
    common.rulebook.ready.clear()
    for table in TABLES:
        table.data.clear()
    deliver.dispatcher = None
    common.resources.sink = None
    # the registry follower does not run under test_context: the registries start empty and count as loaded
    for kept in (registry.resolver, registry.keeper):
        kept.entries.clear()
        kept.index.clear()
        kept.inbox.clear()
        kept.changed.clear()
    registry.follower.ready.set()


@pytest.fixture(autouse=True)
def fresh_agent_state() -> Iterator[None]:
    reset_agent_state()
    yield
    reset_agent_state()
