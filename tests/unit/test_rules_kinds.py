"""Rule kinds and precision gates as pure functions: spike, co_mention, event, min_confidence, min_sources, stories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import Event, Magnitude, Mention, WatchRule
from streams import ids
from streams.alert.events import EventGroup, evaluate_event, event_day, event_matches, group_key
from streams.alert.mentions import EntitySeen, evaluate_mention, is_spike, spike_counts
from streams.alert.rulefile import describe, load_rules_yaml, make_rule, parse_magnitude
from streams.enrich.gazetteer import watched_entity_id
from tests.factories import story_mention as mention

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def run(rule: WatchRule, mentions: list[Mention]) -> list[tuple[str, bool]]:
    """(article id, update?) of every alert the mentions raise in order."""
    seen: EntitySeen | None = None
    out = []
    for item in mentions:
        seen, alerts = evaluate_mention(item, seen, [rule], T0, 30)
        out += [(alert.article_id, alert.update) for alert in alerts]
    return out


def test_spike_fires_against_baseline_then_cools_down() -> None:
    rule = make_rule("Ana Lima", [], kind="spike", spike_window_minutes=60, spike_sensitivity=3, spike_min_mentions=3, cooldown_minutes=120)
    # a quiet baseline: one story a day for a week
    baseline = [mention(f"b{day}", T0 + timedelta(days=day)) for day in range(7)]
    burst_at = T0 + timedelta(days=7, hours=12)
    burst = [mention(f"s{i}", burst_at + timedelta(minutes=10 * i)) for i in range(5)]  # 5 stories in 40 min
    later = [mention(f"l{i}", burst_at + timedelta(hours=3, minutes=5 * i)) for i in range(3)]  # after the cooldown
    fired = run(rule, baseline + burst + later)
    # the third story of the burst fires; the fourth and fifth fall in the cooldown; the later burst fires again
    assert fired == [("s2", False), ("l2", False)]


def test_spike_articles_of_one_story_are_not_a_spike() -> None:
    rule = make_rule("Ana Lima", [], kind="spike", spike_min_mentions=3)
    copies = [mention(f"c{i}", T0 + timedelta(minutes=i), story_id="same") for i in range(6)]
    assert run(rule, copies) == []


@pytest.mark.parametrize(
    ("in_window", "expected", "fires"),
    [(3, 0.0, True), (2, 0.0, False), (3, 1.0, True), (3, 1.5, False), (9, 3.0, True), (8, 3.0, False)],
    ids=["no-baseline", "too-few", "3x-floor", "below-3x", "exactly-3x", "just-below"],
)
def test_is_spike(in_window: int, expected: float, fires: bool) -> None:
    rule = make_rule("A", [], kind="spike", spike_sensitivity=3, spike_min_mentions=3)
    assert is_spike(rule, in_window, expected) is fires


def test_spike_counts_splits_window_and_baseline() -> None:
    when = T0 + timedelta(days=2)
    bucket = int(when.timestamp()) // 900
    buckets = {str(bucket): 2, str(bucket - 2): 1, str(bucket - 8): 4, str(bucket - 1000): 9}
    in_window, expected = spike_counts(buckets, when, 60, 48)
    assert in_window == 3
    assert expected == pytest.approx(4 * 60 / (48 * 60 - 60))


def test_co_mention_needs_the_other_entity_in_the_story() -> None:
    rule = make_rule("Ana Lima", [], kind="co_mention", other={"name": "Bo Berg", "type": "PERSON"})
    bo = watched_entity_id(rule.other) if rule.other else ""
    fired = run(
        rule, [mention("a1", T0, co_entity_ids=["x"]), mention("a2", T0, co_entity_ids=["x", bo]), mention("a3", T0, co_entity_ids=[bo])]
    )
    assert fired == [("a2", False), ("a3", False)]


def test_min_confidence_gate() -> None:
    rule = make_rule("Ana Lima", [], kind="mention", min_confidence=0.8)
    fired = run(rule, [mention("a1", T0, confidence=0.5), mention("a2", T0, confidence=0.9), mention("a3", T0)])
    assert fired == [("a2", False), ("a3", False)]  # no confidence given (a gazetteer hit) passes


def test_min_sources_fires_on_the_second_independent_source_and_counts_later_copies() -> None:
    rule = make_rule("Ana Lima", [], kind="mention", min_sources=2)
    copies = [
        mention("c1", T0, url="http://one.example/a", story_id="s"),
        mention("c2", T0, url="http://www.one.example/b", story_id="s"),  # the same source again
        mention("c3", T0, url="http://two.example/a", story_id="s"),  # a second source: fires
        mention("c4", T0, url="http://three.example/a", story_id="s"),  # a third: an update
        mention("c4", T0, url="http://three.example/a", story_id="s"),  # replayed: nothing
    ]
    seen: EntitySeen | None = None
    alerts = []
    for item in copies:
        seen, new = evaluate_mention(item, seen, [rule], T0, 30)
        alerts += new
    # fired by c3 and updated by c4, each alert quotes the story's earliest article (c1: same time, first id)
    assert [(a.article_id, a.update, a.source_count) for a in alerts] == [("c1", False, 2), ("c1", True, 3)]
    assert alerts[0].id == alerts[1].id == ids.story_alert_id(rule.id, "s")
    assert alerts[0].story_id == "s"
    assert alerts[1].sources == ["one.example", "three.example", "two.example"]  # sorted: the same in any order of arrival


def test_new_mention_counts_stories_not_copies() -> None:
    rule = make_rule("Ana Lima", [])
    items = [
        mention("a1", T0, story_id="s1"),
        mention("a2", T0 + timedelta(hours=1), story_id="s1"),  # another outlet's article of a1's story: update
        mention("a3", T0 + timedelta(days=3)),  # a new story within the look-back: silent
        mention("a4", T0 + timedelta(days=40)),  # 37 quiet days later: fires
    ]
    # a2's update still quotes a1, the story's earliest article
    assert run(rule, items) == [("a1", False), ("a1", True), ("a4", False)]


def test_alerts_follow_the_story_id_not_the_text() -> None:
    rule = make_rule("Ana Lima", [], kind="mention")
    same = "f0f0f0f0f0f0f0f0"
    # the story stage decides what a story is: the same sketch in two stories is two alerts, two texts in one story one
    fired = run(rule, [mention("a1", T0, sketch=same, story_id="s1"), mention("a2", T0, sketch=same, story_id="s2"),
                       mention("a3", T0, sketch="0f0f0f0f0f0f0f0f", story_id="s1")])  # fmt: skip
    assert fired == [("a1", False), ("a2", False), ("a1", True)]  # a3's update quotes its story's earliest article, a1


def event(**changes: object) -> Event:
    base = Event(
        id="ev1", article_id="art1", type="ASSAULT", mode="aerial", actors=["Coalition forces"], recipients=["militants"],
        location="Mosul, Iraq", magnitudes=[Magnitude(kind="killed", value=12)], sentence="An air strike in Mosul killed 12 people.",
        start=0, end=40, confidence=0.9,
    )  # fmt: skip
    return base.model_copy(update=changes)


MOSUL = make_rule(
    "Assault in Mosul", [], kind="event", event_types=["ASSAULT"], event_location="Mosul", magnitude_kind="killed", magnitude_min=10
)
DISPLACED = make_rule("Displacement", [], kind="event", magnitude_kind="displaced", magnitude_min=1000)


@pytest.mark.parametrize(
    ("rule", "changes", "fires"),
    [
        (MOSUL, {}, True),
        (MOSUL, {"magnitudes": [Magnitude(kind="killed", value=9)]}, False),
        (MOSUL, {"magnitudes": [Magnitude(kind="injured", value=40)]}, False),
        (MOSUL, {"location": "Baghdad"}, False),
        (MOSUL, {"location": "Mosulville"}, False),
        (MOSUL, {"type": "PROTEST"}, False),
        (MOSUL, {"negated": True}, False),
        (MOSUL, {"hypothetical": True}, False),
        (MOSUL, {"future": True}, False),
        (DISPLACED, {"type": "COERCE", "magnitudes": [Magnitude(kind="displaced", value=1500)]}, True),
        (DISPLACED, {"magnitudes": [Magnitude(kind="displaced", value=999)]}, False),
        (make_rule("By coalition", [], kind="event", event_actor="coalition"), {}, True),
        (make_rule("By army", [], kind="event", event_actor="army"), {}, False),
        (make_rule("Aerial", [], kind="event", event_modes=["AERIAL"]), {}, True),
        (make_rule("Ground", [], kind="event", event_modes=["ground"]), {}, False),
        (make_rule("Confident", [], kind="event", min_confidence=0.95), {}, False),
        (make_rule("Ana", [], kind="mention"), {}, False),
    ],
    ids=[
        "match",
        "9-killed",
        "injured",
        "baghdad",
        "word-boundary",
        "type",
        "negated",
        "hypothetical",
        "future",
        "displaced",
        "999-displaced",
        "actor",
        "other-actor",
        "mode",
        "other-mode",
        "confidence",
        "not-an-event-rule",
    ],  # fmt: skip
)
def test_event_matches(rule: WatchRule, changes: dict[str, object], fires: bool) -> None:
    assert event_matches(rule, event(**changes)) is fires


def run_events(events: list[Event], rules: list[WatchRule] | None = None, now: datetime = T0) -> list[tuple[str, str, bool, int]]:
    """(alert id, event id, update?, source count) of every alert the events raise, grouped as the agent groups them."""
    groups: dict[str, EventGroup] = {}
    out = []
    for item in events:
        key = group_key(item, now)
        groups[key], alerts = evaluate_event(groups.get(key), item, rules or [MOSUL], now)
        out += [(alert.id, alert.event_id or "", alert.update, alert.source_count) for alert in alerts]
    return out


def test_syndicated_and_lightly_edited_copies_of_an_event_alert_once() -> None:
    raised = run_events([
        event(),  # the original
        event(id="ev2", article_id="art2"),  # a syndicated copy: the same sentence in another article
        event(id="ev3", article_id="art3", sentence="An air strike on Mosul has killed 12 people, officials said."),  # lightly edited
        event(id="ev1b", article_id="art1", sentence="Twelve people died in the Mosul strike."),  # same article again: nothing
        event(),  # a replay: nothing
    ])  # fmt: skip
    assert len(raised) == 3
    ((first, _, update, sources), *updates) = raised
    assert not update and sources == 1
    assert [(alert_id, event_id, update, sources) for alert_id, event_id, update, sources in updates] == [
        (first, "ev2", True, 2), (first, "ev3", True, 3)
    ]  # fmt: skip
    assert len({alert_id for alert_id, *_ in raised}) == 1  # one alert id: receivers see one alert


def test_one_event_reported_by_two_outlets_in_different_words_is_grouped() -> None:
    raised = run_events([
        event(),
        # another outlet: its own sentence, overlapping actors, same type, place and day
        event(id="ev9", article_id="art9", actors=["coalition forces", "Iraqi army"], location="Mosul",
              sentence="Twelve civilians were reported dead after coalition forces bombed a district of Mosul on Monday."),
    ])  # fmt: skip
    assert [(update, sources) for _, _, update, sources in raised] == [(False, 1), (True, 2)]
    assert raised[0][0] == raised[1][0]


def test_different_events_of_one_type_place_and_day_each_alert() -> None:
    raised = run_events([
        event(),
        event(id="ev4", article_id="art4", actors=["Islamic State"], sentence="Gunmen in Mosul killed 15 at a market."),  # other actors
        event(id="ev5", article_id="art5", location="Baghdad"),  # another place
        event(id="ev6", article_id="art6", date="2026-11-02"),  # another day
    ])  # fmt: skip
    assert [(update, sources) for _, _, update, sources in raised] == [(False, 1)] * 4
    assert len({alert_id for alert_id, *_ in raised}) == 4


def test_without_actors_same_magnitudes_or_wording_group_and_others_do_not() -> None:
    bare = {"actors": [], "recipients": []}
    raised = run_events([
        event(**bare),
        event(id="e2", article_id="a2", sentence="Mosul: 12 killed in an air strike.", **bare),  # same magnitudes
        event(id="e3", article_id="a3", magnitudes=[Magnitude(kind="killed", value=30)], sentence="A car bomb in Mosul killed 30.",
              **bare),  # another event
    ])  # fmt: skip
    assert [(update, sources) for _, _, update, sources in raised] == [(False, 1), (True, 2), (False, 1)]


def test_group_state_round_trips_and_each_rule_fires_once_per_event() -> None:
    anywhere = make_rule("Any assault", [], kind="event", event_types=["ASSAULT"])
    group, alerts = evaluate_event(None, event(), [MOSUL, anywhere], T0)
    assert [(a.rule_id, a.update) for a in alerts] == [(MOSUL.id, False), (anywhere.id, False)]
    group, alerts = evaluate_event(EventGroup.loads(group.dumps()), event(id="ev2", article_id="art2"), [MOSUL, anywhere], T0)
    assert [(a.rule_id, a.update, a.sources) for a in alerts] == [(MOSUL.id, True, ["art1", "art2"]), (anywhere.id, True, ["art1", "art2"])]
    assert alerts[0].kind == "event" and "12 killed" in alerts[0].entity_name and alerts[0].story_id == "ev1"
    assert event_day(event(date="2026-11-05"), T0).isoformat() == "2026-11-05" and event_day(event(date="Monday"), T0) == T0.date()


def test_an_undated_event_replayed_on_a_later_day_keeps_its_group() -> None:
    fetched = T0 - timedelta(days=3)
    undated = event(date=None, seen=fetched)
    assert event_day(undated, T0) == fetched.date() and group_key(undated, T0) == group_key(undated, T0 + timedelta(days=2))
    assert event_day(event(date=None), T0) == T0.date()  # written before events carried ``seen``: the day it is processed


def test_watchlist_yaml_every_kind() -> None:
    rules = load_rules_yaml(
        """
watch:
  - name: Ana Lima
    kind: spike
    spike_window_minutes: 30
    cooldown_minutes: 60
    destinations: ["mailto:desk@example.org"]
  - name: Ana Lima
    kind: co_mention
    other: {name: Bo Berg, type: PERSON}
    min_sources: 2
  - name: Assault in Mosul
    kind: event
    event_types: [ASSAULT]
    event_location: Mosul
    magnitude: killed >= 10
  - name: Lindenport
    kind: mention
    min_confidence: 0.7
    digest: hourly
"""
    )
    assert [r.kind for r in rules] == ["spike", "co_mention", "event", "mention"]
    assert rules[0].spike_window_minutes == 30 and rules[0].destinations == ["mailto:desk@example.org"]
    assert rules[1].other is not None and rules[1].other.name == "Bo Berg" and rules[1].min_sources == 2
    assert (rules[2].magnitude_kind, rules[2].magnitude_min) == ("killed", 10)
    assert describe(rules[2]) == "ASSAULT; in Mosul; ≥10 killed"
    assert describe(rules[1]) == "with Bo Berg; ≥2 sources"
    assert rules[3].digest == "hourly" and rules[0].digest is None and describe(rules[3]) == "confidence ≥0.7; hourly digest"
    with pytest.raises(ValueError, match="entry 1 .*digest"):
        load_rules_yaml("watch:\n  - name: X\n    digest: weekly\n")
    with pytest.raises(ValueError, match=r"entry 1 \(X\): unknown key\(s\) treshold"):
        load_rules_yaml("watch:\n  - name: X\n    treshold: 3\n")
    with pytest.raises(ValueError, match="entry 1 .*co_mention rule needs the other entity"):
        load_rules_yaml("watch:\n  - name: X\n    kind: co_mention\n")
    with pytest.raises(ValueError, match="entry 1 .*min_sources applies to mention, new_mention, co_mention and query rules, not to spike"):
        load_rules_yaml("watch:\n  - name: X\n    kind: spike\n    min_sources: 2\n")
    with pytest.raises(ValueError, match="entry 1 .*kind"):
        load_rules_yaml("watch:\n  - name: X\n    kind: sometimes\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("killed>=10", ("killed", 10)), ("displaced ≥ 1,000", ("displaced", 1000)), ("25", (None, 25))],
)
def test_parse_magnitude(text: str, expected: tuple[str | None, int]) -> None:
    parsed = parse_magnitude(text)
    assert (parsed["magnitude_kind"], parsed["magnitude_min"]) == expected


def test_event_rules_stay_out_of_the_gazetteer() -> None:
    from streams.enrich.gazetteer import Watchlist

    watchlist = Watchlist([MOSUL, make_rule("Mosul", [], "GPE")])
    assert [hit.text for hit in watchlist.find("Assault in Mosul reported")] == ["Mosul"]
    assert watchlist.event_rules() == [MOSUL]


def test_short_template_stories_are_never_near_duplicates() -> None:
    from streams.enrich.fingerprint import sketch

    template = "{0} visited {1} on Tuesday to open the new depot number {2}. Officials said it brings forty jobs."
    assert sketch("t", template.format("Ana Lima", "Redmoor", 1)) == sketch("t", template.format("Ana Lima", "Saltmere", 7)) == ""
    long_text = " ".join(f"word{i}" for i in range(100))
    assert len(sketch("t", long_text)) == 16
    rule = make_rule("Ana Lima", [], kind="mention")
    short = [mention(f"a{i}", T0, sketch="") for i in range(3)]
    assert run(rule, short) == [("a0", False), ("a1", False), ("a2", False)]
