"""Agents through Faust's test_context(): no broker; what an agent sends to another topic is recorded."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from prometheus_client import REGISTRY

import agents.alert as alert
import agents.common as common
import agents.poll as poll
from schemas import FeedSource, encode
from streams.config import Settings
from streams.kafka.sizes import limits
from streams.kafka.topology import entity_seen_table
from streams.poll.state import FeedState
from tests.factories import T, mention, watch_rule
from tests.recorder import Recorder


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> dict[str, Recorder]:
    recorders = {"alerts": Recorder(), "deadletter": Recorder(), "poller_deadletter": Recorder()}
    monkeypatch.setattr(alert, "alerts_topic", recorders["alerts"])
    monkeypatch.setattr(common, "deadletter_topic", recorders["deadletter"])
    monkeypatch.setattr(poll, "poller_deadletter_topic", recorders["poller_deadletter"])
    return recorders


async def test_raise_alerts_once_per_entity(sent: dict[str, Recorder]) -> None:
    rule = watch_rule("Ana Lima")
    common.rulebook.watchlist.put(rule)
    common.rulebook.ready.set()
    async with alert.raise_alerts.test_context() as agent:
        for article in ("a1", "a1", "a2", "a3"):
            item = mention(article, T, id=f"m-{article}", entity_id="e-ana", watch_ids=[rule.id], title="t")
            await agent.put(key="e-ana", value=encode(item))
        await agent.put(key="e-ana", value=b'{"schema_version": 1, "entity_id": 7}')
    assert [value["article_id"] for _, value in sent["alerts"].sent] == ["a1"]
    assert sent["alerts"].sent[0][1]["evidence"] == "**Ana Lima** spoke."
    (key, dead), *_ = sent["deadletter"].sent
    assert key == "e-ana" and dead["agent"] == "raise_alerts" and "Mention" in dead["error"]
    state = orjson.loads(entity_seen_table["e-ana"])
    # the repeated a1 is not counted twice; without a story stage each article is a story of its own
    assert state["mentions"] == 3 and state["schema_version"] == 2
    assert sorted(mark["first_article"] for mark in state["stories"].values()) == ["a1", "a2", "a3"]


async def test_a_name_in_very_many_stories_keeps_its_table_value_within_half_a_message(
    sent: dict[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "sizes", limits(Settings(max_message_bytes=64 * 1024)))  # the smallest limit allowed
    rule = watch_rule("Rui Costa", kind="mention")
    common.rulebook.watchlist.put(rule)
    common.rulebook.ready.set()
    forgotten = REGISTRY.get_sample_value("wirewatch_story_memory_trimmed_total", {"table": "entity-seen"}) or 0.0
    try:
        async with alert.raise_alerts.test_context() as agent:
            for n in range(80):  # 80 stories of its own, each a new article naming the name
                item = mention(f"c{n}", T + timedelta(minutes=n), id=f"m-c{n}", entity_id="e-costa", watch_ids=[rule.id], title="t",
                               url=f"http://outlet{n}.example/{n}")  # fmt: skip
                await agent.put(key="e-costa", value=encode(item))
    finally:
        common.rulebook.watchlist.remove(rule.id)
    assert len([value for _, value in sent["alerts"].sent if not value["update"]]) == 80  # one alert per story, none lost
    value = entity_seen_table["e-costa"]
    assert len(value) <= 32 * 1024 and 0 < len(orjson.loads(value)["stories"]) < 80
    assert (REGISTRY.get_sample_value("wirewatch_story_memory_trimmed_total", {"table": "entity-seen"}) or 0.0) > forgotten


async def test_track_feeds_adds_changes_and_removes(sent: dict[str, Recorder]) -> None:
    source = FeedSource(id="feed-1", url="http://127.0.0.1/feed.xml")
    async with poll.track_feeds.test_context() as agent:
        await agent.put(key="feed-1", value=encode(source))
        first = FeedState.loads(poll.feed_state_table["feed-1"])
        assert first.source.url == source.url and first.next_check == 0.0
        await agent.put(key="feed-1", value=encode(source.model_copy(update={"title": "Renamed"})))
        assert FeedState.loads(poll.feed_state_table["feed-1"]).source.title == "Renamed"
        await agent.put(key="feed-bad", value=b"\x00\x01 not json")
        await agent.put(key="feed-1", value=None)
        assert "feed-1" not in poll.feed_state_table
    (key, dead), *_ = sent["poller_deadletter"].sent
    assert key == "feed-bad" and dead["agent"] == "track_feeds" and "invalid JSON" in dead["error"]
