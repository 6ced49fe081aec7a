"""One alert per story on real BBC News articles: syndicated copies, lightly edited copies and revisions, through spaCy
and the story stage (StoryIndex) to the mention rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import agents.alert as alert_agent
import agents.common as common
from schemas import Alert, Article, Event, Mention, WatchRule, encode
from streams import ids
from streams.alert.events import EventGroup, evaluate_event, event_matches, group_key
from streams.alert.mentions import EntitySeen, evaluate_mention
from streams.alert.rulefile import make_rule
from streams.cli.simulate import Simulation
from streams.enrich.fingerprint import distance, sketch
from streams.enrich.gazetteer import Watchlist, watched_entity_id
from streams.enrich.step import enrich_articles
from streams.kafka.topology import entity_seen_table
from tests import factories
from tests.conftest import SHARED_DATA
from tests.recorder import Recorder

POLITICS = SHARED_DATA / "articles" / "bbc-news" / "bbc" / "politics"
NAME = "Michael Howard"
T0 = datetime(2026, 11, 1, 8, tzinfo=UTC)
HOSTS = ("wire.example", "daily.example", "courier.example")

pytestmark = pytest.mark.skipif(not POLITICS.exists(), reason=f"real articles not found in {POLITICS}")
#: SimHash bits apart at which two originals count as different articles (the corpus holds a few near-duplicates)
DISTINCT_BITS = 10


def originals(count: int) -> list[tuple[str, str]]:
    """(title, text) of ``count`` real articles naming the watched politician, none a near-duplicate of another."""
    chosen: list[tuple[str, str]] = []
    for path in sorted(POLITICS.glob("*.txt")):
        title, _, body = path.read_bytes().decode("utf-8", "replace").partition("\n")
        if NAME not in body:
            continue
        if all(distance(sketch(title, body), sketch(t, b)) > DISTINCT_BITS for t, b in chosen):
            chosen.append((title.strip(), body.strip()))
        if len(chosen) == count:
            return chosen
    pytest.skip(f"fewer than {count} distinct articles name {NAME}")


def lightly_edited(text: str, seed: int) -> str:
    """The text with three words changed, as a copy desk might (never the watched name)."""
    words = text.split(" ")
    rnd = random.Random(seed)
    candidates = [i for i, w in enumerate(words) if w.isalpha() and w.islower() and len(w) > 3]
    for index in rnd.sample(candidates, 3):
        words[index] = words[index].upper()
    return " ".join(words)


def copy_on(host: str, slug: str, title: str, text: str, minute: int) -> Article:
    """The story as ``host`` publishes it ``minute`` minutes after T0."""
    return factories.polled_article(
        f"https://{host}/rss", f"https://{host}/news/{slug}?utm_source=rss", title, text, T0 + timedelta(minutes=minute)
    )


def stream_of_copies() -> list[Article]:
    """3 real stories; each carried by 3 sources verbatim, once lightly edited by a 4th, and revised once by its first source."""
    out: list[Article] = []
    for number, (title, text) in enumerate(originals(3)):
        slug = f"story-{number}"
        first = copy_on(HOSTS[0], slug, title, text, number)
        out.append(first)
        out += [copy_on(host, f"{slug}-syndicated", title, text, 10 + number) for host in HOSTS[1:]]
        out.append(copy_on("edited.example", f"{slug}-edited", title + " (updated)", lightly_edited(text, number), 20 + number))
        revised = lightly_edited(text, 100 + number)
        out.append(first.model_copy(update={"text": revised, "content_hash": ids.content_hash(title, revised), "revision": 2}))
    return out


@pytest.fixture(scope="module")
def mentions(nlp: Any) -> tuple[list[WatchRule], list[Mention]]:
    """The watched politician's mentions of every copy, each carrying the story the story stage gave its article."""
    rules = [make_rule(NAME, [], "PERSON", kind="mention"), make_rule(NAME, [], "PERSON", kind="new_mention")]
    watchlist = Watchlist(rules)
    enriched = enrich_articles(nlp, stream_of_copies(), watchlist, 8)
    simulation = Simulation(rules)
    watched = watched_entity_id(rules[0].entity)
    found = []
    for result in enriched:
        step = simulation.index.add(result.item, result.mentions)
        found += [m for m in step.outcome.mentions if m.entity_id == watched]
    assert len(found) == 15, "every copy (3 stories x 5) names the watched politician"
    assert len({m.story_id for m in found}) == 3, "the story stage puts the 5 copies of each article in one story"
    return rules, found


def evaluate(rules: list[WatchRule], items: list[Mention], seen: EntitySeen | None = None) -> tuple[EntitySeen | None, list[Alert]]:
    out: list[Alert] = []
    for item in items:
        seen, alerts = evaluate_mention(item, seen, rules, T0 + timedelta(hours=1), 30)
        out += alerts
    return seen, out


def test_one_alert_per_story_copies_attach_revisions_never_refire(mentions: tuple[list[WatchRule], list[Mention]]) -> None:
    (every, new), items = mentions
    seen, alerts = evaluate([every, new], items)
    fresh = [a for a in alerts if not a.update]
    updates = [a for a in alerts if a.update]
    # mention: one alert per story (3); new_mention: only the first story (the others fall in its look-back)
    assert sorted((a.kind, a.story_id) for a in fresh) == sorted(
        [("mention", s) for s in {a.story_id for a in fresh}] + [("new_mention", fresh[0].story_id)]
    )
    assert [a.kind for a in fresh].count("mention") == 3 and [a.kind for a in fresh].count("new_mention") == 1
    assert all(a.id == ids.story_alert_id(a.rule_id, a.story_id) for a in alerts)
    # every later copy from a new source is attached (3 per story for mention, 3 for the first story's new_mention);
    # the revisions add no source and raise nothing
    assert len(updates) == 3 * 3 + 3
    assert {a.source_count for a in updates} == {2, 3, 4}
    assert all(u.id in {a.id for a in fresh} for u in updates)
    assert seen is not None and len(seen.stories) == 3
    # a replay of the whole stream into the state it left raises nothing
    assert evaluate([every, new], items, seen)[1] == []
    # and from scratch the ids are the same: deterministic
    assert [a.id for a in evaluate([every, new], items)[1]] == [a.id for a in alerts]


async def test_raise_alerts_agent_on_real_copies(mentions: tuple[list[WatchRule], list[Mention]], monkeypatch: pytest.MonkeyPatch) -> None:
    (every, new), items = mentions
    recorder = Recorder()
    monkeypatch.setattr(alert_agent, "alerts_topic", recorder)
    common.rulebook.watchlist.put(every)
    common.rulebook.ready.set()
    try:
        async with alert_agent.raise_alerts.test_context() as agent:
            for item in [m.model_copy(update={"watch_ids": [every.id]}) for m in items] * 2:  # the stream, then replayed
                await agent.put(key=item.entity_id, value=encode(item))
    finally:
        common.rulebook.watchlist.remove(every.id)
    fresh = [value for _, value in recorder.sent if not value["update"]]
    assert len(fresh) == 3 and len({value["story_id"] for value in fresh}) == 3
    assert len(recorder.sent) == 3 + 9
    state = EntitySeen.loads(entity_seen_table[items[0].entity_id])
    assert sorted(len(mark.sources) for mark in state.stories.values()) == [4, 4, 4]


def test_one_event_alert_per_real_event_across_copies(nlp: Any) -> None:
    """Key events of real articles, extracted by spaCy: copies attach to the original's event alerts, never add one."""
    articles = stream_of_copies()
    originals_ids = {a.id for a in articles if a.url.startswith(f"https://{HOSTS[0]}/")}  # each story's first copy
    enriched = enrich_articles(nlp, articles, None, 8)
    events = [event for result in enriched for event in result.item.events]
    rule = make_rule("Any key event", [], kind="event")
    now = T0 + timedelta(hours=1)

    def raise_all(items: list[Event]) -> list[Alert]:
        groups: dict[str, EventGroup] = {}
        out: list[Alert] = []
        for item in items:
            if event_matches(rule, item):
                key = group_key(item, now)
                groups[key], alerts = evaluate_event(groups.get(key), item, [rule], now)
                out += alerts
        return out

    from_originals = [a for a in raise_all([e for e in events if e.article_id in originals_ids]) if not a.update]
    alerts = raise_all(events)
    fresh = [a for a in alerts if not a.update]
    updates = [a for a in alerts if a.update]
    assert len(from_originals) >= 10  # the three real articles hold that many distinct key events
    # the syndicated, edited and revised copies raise no new event alert: exactly the originals' ones
    assert sorted(a.id for a in fresh) == sorted(a.id for a in from_originals)
    assert {a.article_id for a in fresh} <= originals_ids
    # each of the 3 other articles per story (2 syndicated, 1 edited) attaches once to each alert; the revision adds nothing
    assert len(updates) == 3 * len(fresh)
    assert {u.id for u in updates} == {a.id for a in fresh} and max(u.source_count for u in updates) == 4
