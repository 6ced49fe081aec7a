"""Alerts per story: breaking rules where the story state is, and dates that never make a mention "new"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import Entity, QueryHit, StoryArticle
from streams import ids
from streams.alert.mentions import evaluate_mention
from streams.alert.queryrules import evaluate_query
from streams.alert.rulefile import make_rule
from streams.cli.simulate import Simulation
from streams.enrich.gazetteer import Watchlist, watched_entity_id
from streams.story.decide import story_id_for
from streams.story.state import story_record
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


def test_a_name_in_two_linked_stories_of_one_burst_alerts_once_and_updates() -> None:
    rule = factories.watch_rule()
    seen, first = evaluate_mention(mention("a1", T0, story_id="s-a"), None, [rule], T0, 30)
    # the next article joins another story of the same burst and would have joined s-a too: an update of s-a's alert
    later = T0 + timedelta(minutes=1)
    seen, second = evaluate_mention(mention("a2", later, story_id="s-b", linked_story_ids=["s-a"]), seen, [rule], later, 30)
    # a later article of s-b carries no link itself: the name remembers that s-b counts as s-a
    seen, third = evaluate_mention(mention("a3", later, story_id="s-b"), seen, [rule], later, 30)
    assert [(a.update, a.story_id, a.source_count) for a in first + second + third] == [(False, "s-a", 1), (True, "s-a", 2),
                                                                                        (True, "s-a", 3)]  # fmt: skip
    assert {a.id for a in first + second + third} == {ids.story_alert_id(rule.id, "s-a")}
    assert seen.links == {"s-b": "s-a"} and set(seen.stories) == {"s-a"}


def test_a_link_does_not_silence_a_name_new_to_both_stories_nor_another_name() -> None:
    rule, other = factories.watch_rule(), factories.watch_rule("Rui Costa")
    # the name was in neither linked story: its first mention alerts on the article's own story
    _, fresh = evaluate_mention(mention("a2", T0, story_id="s-b", linked_story_ids=["s-a"]), None, [rule], T0, 30)
    assert [(a.update, a.story_id) for a in fresh] == [(False, "s-b")]
    # a name first mentioned in a story that already alerted for another name gets its own alert (one per rule, story)
    seen_ana, _ = evaluate_mention(mention("a1", T0, story_id="s-a"), None, [rule], T0, 30)
    costa = mention("a3", T0, story_id="s-a", entity_id=watched_entity_id(other.entity), name="Rui Costa", watch_ids=[other.id])
    _, own = evaluate_mention(costa, None, [other], T0, 30)
    assert [(a.rule_id, a.update, a.story_id) for a in own] == [(other.id, False, "s-a")] and "s-a" in seen_ana.stories


def test_simulate_links_a_split_burst_so_the_name_alerts_once() -> None:
    # the story stage's link reaches the rules through the mentions, as in the workers: one market day opened as two
    # stories (their first headlines share no word, the second names nobody); the name alerts on the first, and its
    # mention in the second story, by an article that would have joined the first too, is an update of that alert
    rule = factories.watch_rule()
    simulation = Simulation([rule])
    titles = [
        "Ana Lima says Wall Street slips on weak China exports",
        "Asian shares slide ahead of Bank of Japan",
        "Ana Lima: Asian shares slide, Wall Street slips on weak China exports",
        "Ana Lima on Asian shares slide ahead of Japan",
    ]
    raised = []
    for n, title in enumerate(titles):
        when = T0 + timedelta(minutes=n)
        article = factories.article(f"m{n}", title=title, url=f"https://s{n}.example/{n}", published=when, fetched=when)
        mentions = [mention(f"m{n}", when, watch_ids=[rule.id], url=article.url)] if "Ana Lima" in title else []
        raised += simulation.step(factories.enriched(article), mentions)[1]
    assert [(a.update, a.story_id, a.source_count) for a in raised] == [(False, story_id_for("m0"), 1),
                                                                        (True, story_id_for("m0"), 2),
                                                                        (True, story_id_for("m0"), 3)]  # fmt: skip
    # both stories' records name the other, whichever one a reader opens from an alert
    first, second = (simulation.index.stories[story_id_for(m)] for m in ("m0", "m1"))
    assert story_record(first).linked_story_ids == [second.id] and story_record(second).linked_story_ids == [first.id]


def test_a_name_in_very_many_stories_forgets_the_least_recent_to_fit_half_a_message() -> None:
    # a name in 300 stories of one week (or a feed inventing them): its memory would outgrow a Kafka message
    rule = factories.watch_rule(kind="mention")
    seen = None
    for n in range(300):
        when = T0 + timedelta(minutes=20 * n)
        seen, _ = evaluate_mention(mention(f"a{n}", when, story_id=f"s{n}"), seen, [rule], when, 30)
    assert seen is not None
    same, dropped, data = seen.within(len(seen.dumps()))
    assert same is seen and dropped == 0 and data == seen.dumps()  # within its budget it is left as it is
    budget = len(seen.dumps()) // 3
    kept, dropped, data = seen.within(budget)
    assert len(data) <= budget and data == kept.dumps() and dropped == 300 - len(kept.stories) > 0
    assert set(kept.stories) == {f"s{n}" for n in range(300 - len(kept.stories), 300)}  # the most recently active kept
    # the newest story still counts as alerted; a forgotten one alerts again under its old id (delivery does not push twice)
    when = T0 + timedelta(minutes=20 * 300)
    _, again = evaluate_mention(mention("b1", when, story_id="s299"), kept, [rule], when, 30)
    assert [a.update for a in again] == [True]
    _, again = evaluate_mention(mention("b2", when, story_id="s0"), kept, [rule], when, 30)
    assert [(a.update, a.id) for a in again] == [(False, ids.story_alert_id(rule.id, "s0"))]


def test_simulate_forgets_as_the_workers_do_when_a_name_outgrows_half_a_message() -> None:
    # the same 80 stories as the agent test at the smallest message limit (tests/functional/test_agents.py)
    rule = factories.watch_rule(kind="mention")
    simulation = Simulation([rule], message_bytes=64 * 1024)
    raised = []
    for n in range(80):
        when = T0 + timedelta(minutes=n)
        item = factories.enriched(factories.article(f"c{n}", published=when, fetched=when))
        raised += simulation.step_in_story(item, [mention(f"c{n}", when, watch_ids=[rule.id])], f"s{n}")[1]
    assert [a.update for a in raised] == [False] * 80  # one alert per story, none lost
    kept = simulation.seen["e1"]
    assert len(kept.dumps()) <= 32 * 1024 and 0 < len(kept.stories) < 80 and simulation.forgotten == 80 - len(kept.stories)
    # a later article of a forgotten story alerts again, as on a worker; one of a remembered story is an update
    when = T0 + timedelta(hours=2)
    again = [simulation.step_in_story(factories.enriched(factories.article(f"d{s}", published=when, fetched=when)),
                                      [mention(f"d{s}", when, watch_ids=[rule.id])], f"s{s}")[1][0].update for s in (0, 79)]  # fmt: skip
    assert again == [False, True]
    # with the default limit (1 MiB, as WIREWATCH_MAX_MESSAGE_BYTES) the same 80 stories are all remembered
    roomy = Simulation([rule])
    for n in range(80):
        item = factories.enriched(factories.article(f"c{n}"))
        roomy.step_in_story(item, [mention(f"c{n}", T0, watch_ids=[rule.id])], f"s{n}")
    assert len(roomy.seen["e1"].stories) == 80 and roomy.forgotten == 0


def test_a_query_rule_memory_drops_links_to_the_stories_it_forgot() -> None:
    rule = make_rule("", [], kind="query", query="icahn")
    hit = QueryHit(rule_id=rule.id, sentence="Carl Icahn bought eBay.")
    seen = None
    for n in range(50):
        article = StoryArticle(id=f"a{n}", title="t", url=f"https://s{n}.example/", feed_id="f", source=f"s{n}.example",
                               time=T0.timestamp() + 60 * n, language="en", fetched=T0)  # fmt: skip
        seen, _ = evaluate_query(seen, hit, rule, article, f"s{n}", [f"s{n - 1}"] if n == 1 else [], T0, 30)
    assert seen is not None and seen.links == {"s1": "s0"}  # the second story counted as the first
    kept, dropped, _ = seen.within(len(seen.dumps()) // 2)
    assert dropped > 0 and "s0" not in kept.stories and kept.links == {}
