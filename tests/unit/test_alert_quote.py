"""Point 9 of issue 16: a mention or query alert quotes the story's earliest article seen, whatever order copies arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations

from schemas import Alert, Mention, MentionSpan, QueryHit, StoryArticle
from streams import ids
from streams.alert.mentions import EntitySeen, evaluate_mention
from streams.alert.queryrules import QuerySeen, evaluate_query
from streams.alert.rulefile import make_rule
from tests import factories

T0 = datetime(2026, 11, 2, 8, tzinfo=UTC)


def copies() -> list[Mention]:
    """One story carried by three outlets (a 2nd copy from the first outlet too), each quoting its own sentence."""
    out = []
    for n, (host, minutes) in enumerate([("harbour.example", 30), ("valley.example", 0), ("harbour.example", 0), ("coast.example", 45)]):
        when = T0 + timedelta(minutes=minutes)
        sentence = f"Ana Lima spoke to outlet {n}."
        out.append(factories.mention(f"a{n}", when, url=f"https://{host}/{n}", story_id="story-1", sentence=sentence, title=f"Report {n}"))
    return out


def final_alerts(mentions: list[Mention], rule_kind: str = "new_mention") -> tuple[list[Alert], dict[str, Alert]]:
    """Every alert raised, and the last one of each id (what the topic's compaction and the sink keep)."""
    rule = factories.watch_rule(kind=rule_kind).model_copy(update={"id": "r"})
    seen: EntitySeen | None = None
    raised: list[Alert] = []
    for mention in mentions:
        seen, alerts = evaluate_mention(mention, seen, [rule], T0 + timedelta(hours=1), 30)
        raised += alerts
    return raised, {alert.id: alert for alert in raised}


def fields(alert: Alert) -> tuple[object, ...]:
    return (alert.id, alert.article_id, alert.evidence, alert.sentence, alert.title, alert.url, alert.source_count, tuple(alert.sources))


def test_the_same_articles_in_any_order_give_the_same_alert() -> None:
    outcomes = set()
    for order in permutations(copies()):
        raised, last = final_alerts(list(order))
        assert len(last) == 1 and not raised[0].update and all(a.update for a in raised[1:])
        outcomes.add(tuple(fields(alert) for alert in last.values()))
    print(f"{len(list(permutations(copies())))} orders, {len(outcomes)} final alert(s)")
    assert len(outcomes) == 1
    (alert,) = next(iter(outcomes))
    # a1 and a2 share the earliest time: the article id breaks the tie
    assert alert[0] == ids.story_alert_id("r", "story-1") and alert[1] == "a1"
    assert alert[2] == "**Ana Lima** spoke to outlet 1." and alert[6] == 3
    assert alert[7] == ("coast.example", "harbour.example", "valley.example")


def test_an_earlier_copy_from_a_known_outlet_updates_the_quote_and_a_later_one_changes_nothing() -> None:
    late, early, later = copies()[0], copies()[2], copies()[3].model_copy(update={"url": "https://harbour.example/9", "article_id": "a9"})
    raised, _ = final_alerts([late, early, later])
    # the earlier copy adds no source, yet the alert is updated to quote it; the later copy raises nothing
    assert [(a.article_id, a.update, a.source_count) for a in raised] == [("a0", False, 1), ("a2", True, 1)]


def test_a_mention_rule_quotes_the_earliest_article_too() -> None:
    forward = final_alerts(copies(), "mention")[1]
    backward = final_alerts(copies()[::-1], "mention")[1]
    assert [fields(a) for a in forward.values()] == [fields(a) for a in backward.values()]
    assert next(iter(forward.values())).article_id == "a1"


def test_a_mark_stored_before_quotes_learns_one_without_an_update() -> None:
    first, second = copies()[0], copies()[2]
    seen, _ = evaluate_mention(first, None, [factories.watch_rule().model_copy(update={"id": "r"})], T0, 30)
    old = EntitySeen.loads(seen.dumps())
    old.stories["story-1"] = old.stories["story-1"].model_copy(update={"quote": None, "quote_time": None})
    seen, alerts = evaluate_mention(second, old, [factories.watch_rule().model_copy(update={"id": "r"})], T0, 30)
    assert alerts == [] and seen.stories["story-1"].quote is not None and seen.stories["story-1"].quote.article_id == "a2"


def matches() -> list[tuple[StoryArticle, QueryHit]]:
    """The same story as :func:`copies`, matched by a query rule: each outlet's article with its own sentence."""
    out = []
    for n, (host, minutes) in enumerate([("harbour.example", 30), ("valley.example", 0), ("harbour.example", 0), ("coast.example", 45)]):
        when = T0 + timedelta(minutes=minutes)
        sentence = f"Ana Lima spoke to outlet {n}."
        article = StoryArticle(id=f"a{n}", title=f"Report {n}", url=f"https://{host}/{n}", feed_id="f", source=host, time=when.timestamp(),
                               language="en", published=when, fetched=when)  # fmt: skip
        out.append((article, QueryHit(rule_id="q", sentence=sentence, highlights=[MentionSpan(start=0, end=8, text="Ana Lima")])))
    return out


def query_alerts(order: list[tuple[StoryArticle, QueryHit]], seen: QuerySeen | None = None) -> tuple[list[Alert], QuerySeen | None]:
    rule = make_rule("", [], kind="query", query='"Ana Lima"').model_copy(update={"id": "q"})
    raised: list[Alert] = []
    for article, hit in order:
        seen, alerts = evaluate_query(seen, hit, rule, article, "story-1", [], T0 + timedelta(hours=1), 30)
        raised += alerts
    return raised, seen


def test_a_query_rule_gives_the_same_alert_in_any_order_too() -> None:
    outcomes = set()
    for order in permutations(matches()):
        raised, _ = query_alerts(list(order))
        assert not raised[0].update and all(a.update for a in raised[1:])
        outcomes.add(fields(raised[-1]))  # one id: the last alert is what the topic's compaction and the sink keep
    assert len(outcomes) == 1
    (alert,) = outcomes
    assert alert[0] == ids.story_alert_id("q", "story-1") and alert[1] == "a1" and alert[2] == "**Ana Lima** spoke to outlet 1."
    assert alert[6] == 3 and alert[7] == ("coast.example", "harbour.example", "valley.example")


def test_an_earlier_match_from_a_known_outlet_updates_a_query_alert_and_a_mark_without_a_quote_learns_one() -> None:
    late, _, early, _ = matches()
    raised, seen = query_alerts([late, early])
    # the earlier article adds no source, yet the alert is updated to quote it
    assert [(a.article_id, a.update, a.source_count) for a in raised] == [("a0", False, 1), ("a2", True, 1)]
    assert seen is not None
    old = QuerySeen.loads(seen.dumps())
    old.stories["story-1"] = old.stories["story-1"].model_copy(update={"quote": None})
    raised, seen = query_alerts([matches()[1]], old)  # an earlier article again, now from a new outlet: one update
    assert [(a.article_id, a.update, a.source_count) for a in raised] == [("a1", True, 2)]
