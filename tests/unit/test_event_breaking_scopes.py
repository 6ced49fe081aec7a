"""Scopes and exclusions on event and breaking rules: judged where the article's text and feed are (enrich for events,
the story stage for breaking rules) and carried on with the record, so the rule never fires on an article outside them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import Event, Magnitude
from streams.alert.events import event_matches
from streams.alert.queryrules import out_of_scope
from streams.alert.rulefile import load_rules_yaml, make_rule
from streams.cli.simulate import Simulation
from tests import factories

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)
TEXT = "A car bomb in Mosul killed 12 people near the football stadium."


def article(text: str = TEXT, tags: tuple[str, ...] = ("world",), url: str = "https://www.bbc.co.uk/news/1", number: int = 1):
    return factories.article(f"a{number}", text, title=f"Mosul report {number}", url=url, tags=list(tags), language="en",
                             published=T0, fetched=T0)  # fmt: skip


def test_event_and_breaking_rules_take_scopes_and_exclusions() -> None:
    rules = load_rules_yaml(
        "watch:\n"
        "  - name: Assault in Mosul\n    kind: event\n    event_types: [ASSAULT]\n    feeds: [world]\n    exclude: [football]\n"
        "  - name: '*'\n    kind: breaking\n    sources: [bbc.co.uk]\n    languages: [en]\n"
    )
    assert (rules[0].feeds, rules[0].exclude, rules[1].sources, rules[1].languages) == (["world"], ["football"], ["bbc.co.uk"], ["en"])


def test_the_article_decides_which_event_rules_it_is_outside() -> None:
    world = make_rule("Assault world", [], kind="event", event_types=["ASSAULT"], feeds=["world"])
    no_football = make_rule("Assault no football", [], kind="event", event_types=["ASSAULT"], exclude=["football"])
    bbc = make_rule("Assault bbc", [], kind="event", event_types=["ASSAULT"], sources=["bbc.co.uk"])
    plain = make_rule("Assault", [], kind="event", event_types=["ASSAULT"])
    rules = [world, no_football, bbc, plain]
    assert out_of_scope(factories.enriched(article()), rules) == [no_football.id]
    assert out_of_scope(factories.enriched(article(tags=("sport",), url="https://example.org/1")), rules) == sorted(
        [world.id, no_football.id, bbc.id]
    )
    assert out_of_scope(factories.enriched(article("A car bomb in Mosul killed 12 people.")), rules) == []
    event = Event(id="ev1", article_id="a1", type="ASSAULT", sentence=TEXT, start=0, end=10, confidence=0.9,
                  magnitudes=[Magnitude(kind="killed", value=12)], out_of_scope=[no_football.id])  # fmt: skip
    assert [rule.id for rule in rules if event_matches(rule, event)] == [world.id, bbc.id, plain.id]


def outlets(text: str, tags: tuple[str, ...]) -> list:
    """Four outlets carrying one story ten minutes apart, each from a feed with ``tags``."""
    out = []
    for n in range(4):
        when = T0 + timedelta(minutes=10 * n)
        item = factories.article(f"{tags[0]}{n}", text, title="Elkhorn dam floodgates opened", url=f"https://s{n}.example/{n}",
                                 published=when, fetched=when, tags=list(tags))  # fmt: skip
        out.append(factories.enriched(item))
    return out


def test_a_scoped_breaking_rule_fires_only_on_articles_within_its_scopes() -> None:
    rule = make_rule("*", [], kind="breaking", spike_min_mentions=3, feeds=["world"], exclude=["football"])
    fired = {}
    for name, text, tags in (
        ("in scope", "The dam opened its floodgates after the storm.", ("world",)),
        ("another tag", "The dam opened its floodgates after the storm.", ("sport",)),
        ("excluded word", "The dam opened its floodgates before the football final.", ("world",)),
    ):
        simulation = Simulation([rule])
        fired[name] = [a.source_count for item in outlets(text, tags) for a in simulation.step(item, [])[1]]
    assert fired == {"in scope": [3], "another tag": [], "excluded word": []}
