"""The enrich agent through Faust's test_context(): each enriched article (with its mentions) to the story stage, events
out; failures dead-lettered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError

import agents.common as common
import agents.enrich as enrich
from schemas import Event, encode
from tests.factories import article
from tests.recorder import Recorder

HUGE = "Valdoria imposed sanctions on Estmark. " * 30_000
TEXT = "President Anja Lindqvist met Chidi Okonkwo in Kessin on Tuesday. Rebels attacked the port, killing 14 people."


class Refusing(Recorder):
    """A topic whose broker refuses the values of some keys as too large, as Kafka answers a message over its limit."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused

    async def send_raw(self, key: str, value: bytes) -> asyncio.Future[None]:
        if key not in self.refused:
            return await super().send_raw(key, value)
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        answer.set_exception(MessageSizeTooLargeError("the broker refused it"))
        return answer


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> dict[str, Recorder]:
    recorders = {name: Recorder() for name in ("events", "deadletter")}
    recorders["storywork"] = Refusing({"refused"})
    monkeypatch.setattr(enrich, "story_work_topic", recorders["storywork"])
    monkeypatch.setattr(enrich, "events_topic", recorders["events"])
    monkeypatch.setattr(common, "deadletter_topic", recorders["deadletter"])
    return recorders


async def test_enrich_publishes_entities_mentions_and_events(sent: dict[str, Recorder], nlp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.resources, "nlp", nlp)  # the session's model, not a second copy
    # a short article cap, so the cut article is parsed in a moment (the default is 100,000 characters)
    monkeypatch.setattr(enrich, "settings", enrich.settings.model_copy(update={"article_max_chars": 5000}))
    common.rulebook.ready.set()
    async with enrich.enrich.test_context() as agent:
        await agent.put(key="a1", value=encode(article("a1", TEXT)))
        await agent.put(key="bad", value=b'{"schema_version": 1, "id": 7}')
        # longer than spaCy's max_length, from a producer other than the poller: cut to the policy, enriched, marked
        await agent.put(key="huge", value=encode(article("huge", HUGE)))
        # the broker refuses its enriched record: dead-lettered alone, the rest of the batch goes on
        await agent.put(key="refused", value=encode(article("refused", TEXT)))
        await agent.put(key="a2", value=encode(article("a2", "Valdoria imposed sanctions on Estmark.")))
        for _ in range(600):  # the agent batches (take_events ... within=) and runs NLP on a thread: wait for its output
            # the positive signal: the good articles enriched and the bad ones dead-lettered (test_context hands each
            # message to every one of the agent's concurrent actors, so counts alone would be reached by copies)
            if {"a1", "a2", "huge"} <= {key for key, _ in sent["storywork"].sent} and {"bad", "refused"} <= {
                key for key, _ in sent["deadletter"].sent
            }:
                break
            await asyncio.sleep(0.1)
    # one message per article to the story stage: the enriched article and its mentions, which the story stage publishes
    work: dict[str, Any] = {key: value for key, value in sent["storywork"].sent}
    assert {value["kind"] for value in work.values()} == {"article"}
    enriched: dict[str, Any] = {key: value["item"] for key, value in work.items()}
    assert sorted(enriched) == ["a1", "a2", "huge"]
    huge = enriched["huge"]["article"]
    assert huge["truncated"] and 4900 < len(huge["text"]) <= 5000 and HUGE.startswith(huge["text"])
    assert {e["name"] for e in enriched["huge"]["entities"]} >= {"Valdoria", "Estmark"}
    first = enriched["a1"]
    assert {e["name"] for e in first["entities"]} >= {"Anja Lindqvist", "Chidi Okonkwo", "Kessin"}
    assert [(e["type"], e["actors"], e["recipients"]) for e in first["events"]][:1] == [("CONSULT", ["Anja Lindqvist"], ["Chidi Okonkwo"])]
    events = sent["events"].sent
    assert [key for key, _ in events] == [value["id"] for _, value in events]
    assert {value["type"] for _, value in events} == {"CONSULT", "ASSAULT", "SANCTION"}
    assert {value["article_id"] for _, value in events} >= {"a1", "a2"}
    killed = next(value for _, value in events if value["type"] == "ASSAULT")
    assert killed["magnitudes"] == [{"schema_version": 1, "kind": "killed", "value": 14}]
    mentions = [m for value in work.values() for m in value["mentions"]]
    assert {m["entity_id"] for m in mentions} == {e["id"] for item in enriched.values() for e in item["entities"]}
    dead = {key: value for key, value in sent["deadletter"].sent}
    assert sorted(dead) == ["bad", "refused"]
    assert dead["refused"]["agent"] == "enrich"
    assert dead["refused"]["error"].startswith("article refused: outputs not sent: MessageSizeTooLargeError")
    assert dead["refused"]["size"] == len(encode(article("refused", TEXT))) and not dead["refused"]["value_omitted"]
    assert "Article" in dead["bad"]["error"]


async def test_events_carry_the_event_rules_their_article_is_outside(
    sent: dict[str, Recorder], nlp: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Event rules fire on wirewatch.events, which carries a sentence: enrich, which has the text and the feed's tags,
    marks each event with the scoped event rules its article fails."""
    from streams.alert.events import event_matches
    from streams.alert.rulefile import make_rule

    monkeypatch.setattr(common.resources, "nlp", nlp)
    world = make_rule("Assault world", [], kind="event", event_types=["ASSAULT"], feeds=["world"])
    no_port = make_rule("Assault no port", [], kind="event", event_types=["ASSAULT"], exclude=["port"])
    sport = make_rule("Assault sport", [], kind="event", event_types=["ASSAULT"], feeds=["sport"])
    for rule in (world, no_port, sport):
        common.rulebook.watchlist.put(rule)
    common.rulebook.ready.set()
    try:
        async with enrich.enrich.test_context() as agent:
            await agent.put(key="t1", value=encode(article("t1", TEXT, tags=["world"])))
            for _ in range(600):  # the agent batches and runs NLP on a thread: wait for the article's events
                if any(value["article_id"] == "t1" and value["type"] == "ASSAULT" for _, value in sent["events"].sent):
                    break
                await asyncio.sleep(0.1)
    finally:
        for rule in (world, no_port, sport):
            common.rulebook.watchlist.remove(rule.id)
    assault = next(value for _, value in sent["events"].sent if value["article_id"] == "t1" and value["type"] == "ASSAULT")
    assert assault["out_of_scope"] == sorted([no_port.id, sport.id])  # "the port" is in the text; the feed is tagged world
    decoded = Event.model_validate(assault)
    assert [rule.id for rule in (world, no_port, sport) if event_matches(rule, decoded)] == [world.id]
