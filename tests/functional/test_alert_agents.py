"""The event-rule agents through Faust's test_context(): Event records in, one alert per real event out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import agents.alert as alert
import agents.common as common
from schemas import Event, Magnitude, encode
from streams.alert.rulefile import make_rule
from tests.recorder import Recorder


def key_event(number: int, killed: int, location: str = "Mosul", sentence: str | None = None, **changes: Any) -> Event:
    return Event(
        id=f"ev{number}", article_id=f"art{number}", type="ASSAULT", location=location, magnitudes=[Magnitude(kind="killed", value=killed)],
        sentence=sentence or f"A car bomb in {location} killed {killed} people.", start=0, end=30, confidence=0.8, **changes,
    )  # fmt: skip


async def test_event_rules_fire_once_per_real_event(monkeypatch: pytest.MonkeyPatch) -> None:
    regrouped, alerts, dead = Recorder(), Recorder(), Recorder()
    monkeypatch.setattr(alert, "event_groups_topic", regrouped)
    monkeypatch.setattr(alert, "alerts_topic", alerts)
    monkeypatch.setattr(alert, "event_group_table", {})  # the Faust table's mapping interface, without a changelog
    monkeypatch.setattr(common, "deadletter_topic", dead)
    mosul = make_rule("Assault in Mosul", [], kind="event", event_types=["ASSAULT"], event_location="Mosul", magnitude_kind="killed",
                      magnitude_min=10, destinations=["mailto:desk@example.org"])  # fmt: skip
    anywhere = make_rule("Any assault", [], kind="event", event_types=["ASSAULT"], min_confidence=0.9)
    for rule in (mosul, anywhere):
        common.rulebook.watchlist.put(rule)
    common.rulebook.ready.set()
    events = [
        key_event(1, 12),  # matches
        key_event(2, 12),  # a syndicated copy: same sentence, another article
        key_event(3, 4),  # too few
        key_event(4, 30, location="Baghdad"),  # elsewhere
        key_event(5, 15, negated=True),  # "did not kill"
        key_event(6, 20, sentence="Gunmen in Mosul killed 20 people."),  # a second real event
        key_event(7, 12, sentence="A car bomb in Mosul has killed 12 people, police said."),  # a lightly edited copy of the first
    ]
    try:
        async with alert.raise_event_alerts.test_context() as agent:
            for item in events:
                await agent.put(key=item.id, value=encode(item))
            await agent.put(key="bad", value=b'{"schema_version": 1, "type": "ASSAULT"}')
        assert [value["id"] for _, value in regrouped.sent] == ["ev1", "ev2", "ev6", "ev7"]  # only events some rule wants
        assert len({key for key, _ in regrouped.sent}) == 1  # one type, place and day: one key, one partition
        async with alert.group_event_alerts.test_context() as agent:
            for key, value in regrouped.sent:
                await agent.put(key=key, value=orjson.dumps(value))
    finally:
        for rule in (mosul, anywhere):
            common.rulebook.watchlist.remove(rule.id)
    sent = [value for _, value in alerts.sent]
    # the confidence gate keeps "anywhere" silent; copies of the first event are updates of its alert
    assert [(value["event_id"], value["update"], value["source_count"]) for value in sent] == [
        ("ev1", False, 1), ("ev2", True, 2), ("ev6", False, 1), ("ev7", True, 3)
    ]  # fmt: skip
    assert sent[0]["id"] == sent[1]["id"] == sent[3]["id"] != sent[2]["id"]
    assert sent[0]["destinations"] == ["mailto:desk@example.org"] and sent[0]["kind"] == "event"
    ((key, letter),) = dead.sent
    assert key == "bad" and letter["agent"] == "raise_event_alerts" and "Event" in letter["error"]
