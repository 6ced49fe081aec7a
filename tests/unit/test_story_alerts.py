"""Alerts per story: breaking rules where the story state is, and dates that never make a mention "new"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import Entity
from streams import ids
from streams.alert.mentions import evaluate_mention
from streams.alert.rulefile import make_rule
from streams.cli.simulate import Simulation
from streams.enrich.gazetteer import Watchlist, watched_entity_id
from tests import factories
from tests.factories import story_mention as mention

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)


def outlets(count: int, minutes_apart: float, entity: Entity | None = None, first: int = 0, at: float = 0) -> list:
    """``count`` outlets (numbered from ``first``) carrying one story, ``minutes_apart``, starting ``at`` minutes after T0."""
    out = []
    for n in range(first, first + count):
        when = T0 + timedelta(minutes=at + (n - first) * minutes_apart)
        article = factories.article(f"a{n}", title=f"Elkhorn dam floodgates opened, report {n % 2}", url=f"https://s{n}.example/{n}",
                                    published=when, fetched=when)  # fmt: skip
        out.append(factories.enriched(article, *([entity] if entity else [])))
    return out


def test_breaking_fires_once_when_sources_outpace_then_updates_after_the_cooldown() -> None:
    rule = make_rule("*", [], kind="breaking", spike_window_minutes=60, spike_min_mentions=3, cooldown_minutes=120)
    simulation = Simulation([rule])
    raised = []
    # five outlets in 40 min (fires at the third); three more from 3 h on (too few against that pace); then eight in 35 min
    for item in outlets(5, 10) + outlets(3, 10, first=5, at=180) + outlets(8, 5, first=8, at=240):
        raised += simulation.step(item, [])[1]
    assert [(a.kind, a.update, a.source_count) for a in raised] == [("breaking", False, 3), ("breaking", True, 15)]
    story = raised[0].story_id
    assert {a.id for a in raised} == {ids.story_alert_id(rule.id, story)} and raised[0].article_id == "a2"


def test_breaking_on_a_watched_name_needs_the_story_to_name_it() -> None:
    rule = make_rule("Elkhorn Dam", [], "FAC", kind="breaking", spike_min_mentions=3)
    watched = Entity(id=watched_entity_id(rule.entity), name="Elkhorn Dam", type="FAC", watch_ids=[rule.id])
    assert [a for item in outlets(4, 5) for a in Simulation([rule]).step(item, [])[1]] == []
    simulation = Simulation([rule])
    raised = [a for item in outlets(4, 5, watched) for a in simulation.step(item, [])[1]]
    assert [(a.entity_name, a.source_count) for a in raised] == [("Elkhorn Dam", 3)]


def test_a_slow_story_is_never_breaking() -> None:
    rule = make_rule("*", [], kind="breaking", spike_min_mentions=3)
    simulation = Simulation([rule])
    assert [a for item in outlets(6, 90) for a in simulation.step(item, [])[1]] == []  # one outlet every 90 minutes


def test_breaking_rules_are_not_names_to_find_and_refuse_min_sources() -> None:
    assert Watchlist([make_rule("*", [], kind="breaking")]).find("a * b") == []
    with pytest.raises(ValueError, match="not to breaking"):
        make_rule("*", [], kind="breaking", min_sources=2)


def test_an_old_article_never_opens_a_new_story_for_new_mention() -> None:
    rule = make_rule("Ana Lima", [])
    old = mention("old", T0 - timedelta(days=400), fetched=T0)
    seen, alerts = evaluate_mention(old, None, [rule], T0, 30)
    assert alerts == [] and seen.stories and next(iter(seen.stories.values())).suspect
    # nor does a mention rule report it: old news stays old for every kind (streams.clock.suspect_date)
    assert evaluate_mention(old, None, [make_rule("Ana Lima", [], kind="mention")], T0, 30)[1] == []
    # and a fresh story afterwards is new again: the old date did not count as "seen recently"
    _, fresh = evaluate_mention(mention("new", T0), seen, [rule], T0, 30)
    assert len(fresh) == 1


def test_a_future_date_is_taken_at_fetch_time_and_never_new() -> None:
    rule = make_rule("Ana Lima", [])
    seen, alerts = evaluate_mention(mention("f", T0 + timedelta(days=30), fetched=T0), None, [rule], T0, 30)
    assert alerts == [] and seen.last_seen == T0


def test_replay_of_a_story_raises_no_alert_message() -> None:
    rule = make_rule("Ana Lima", [], kind="mention")
    stream = [mention(f"a{n}", T0 + timedelta(minutes=n), story_id="s", url=f"https://s{n}.example/x") for n in range(4)]
    seen = None
    first = []
    for item in stream:
        seen, raised = evaluate_mention(item, seen, [rule], T0, 30)
        first += raised
    assert [(a.update, a.source_count) for a in first] == [(False, 1), (True, 2), (True, 3), (True, 4)]
    replayed = []
    for item in stream:
        seen, raised = evaluate_mention(item, seen, [rule], T0, 30)
        replayed += raised
    assert replayed == []
