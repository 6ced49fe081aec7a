"""Query rules as rules: made from flags and YAML (a bad query refused with its column, exit 2), refused from the topic
with the reason while the rest of the rulebook works, fired once per story, scopes and exclusions on every kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from schemas import Article, EnrichedArticle, Entity, Mention, MentionSpan, QueryHit, StoryArticle, WatchedEntity, WatchRule, encode
from streams.alert.queryindex import QueryIndex
from streams.alert.queryrules import QuerySeen, evaluate_query, screen_article
from streams.alert.rulebook import RuleBook
from streams.alert.rulefile import load_rules_yaml, make_rule
from streams.cli.main import main
from streams.config import Settings
from streams.errors import RuleError
from tests.factories import mention

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_a_bad_query_is_refused_with_its_column() -> None:
    with pytest.raises(RuleError, match=r"query: expected '\)' at column 33"):
        make_rule("", [], kind="query", query='"Carl Icahn" AND (eBay OR PayPal')


def test_watch_add_exits_2_with_the_position_and_no_traceback() -> None:
    result = CliRunner().invoke(main, ["watch", "add", "--query", '"Carl Icahn" AND (eBay OR PayPal'])
    assert result.exit_code == 2
    assert "expected ')' at column 33" in result.output and "Traceback" not in result.output


def test_a_query_rule_from_yaml_and_its_id() -> None:
    rules = load_rules_yaml(
        "watch:\n"
        "  - query: '\"Carl Icahn\" AND (eBay OR PayPal) -football'\n"
        "    digest: daily\n"
        "    min_sources: 2\n"
        "    sources: bbc.co.uk\n"
        "  - name: Mosul\n"
        "    kind: mention\n"
        "    exclude: [football]\n"
    )
    query, mosul = rules
    assert query.kind == "query" and query.entity.name == '"Carl Icahn" AND (eBay OR PayPal) -football'
    assert query.sources == ["bbc.co.uk"] and query.digest == "daily" and query.min_sources == 2
    assert mosul.exclude == ["football"]
    same = make_rule("another label", [], kind="query", query=' "Carl Icahn"  AND (eBay OR PayPal) -football', sources=["bbc.co.uk"])
    assert same.id == query.id  # the query and scopes make the rule, the label does not
    with pytest.raises(RuleError, match="entry 1.*column"):
        load_rules_yaml("watch:\n  - query: 'a AND AND b'\n")


def test_the_rulebook_refuses_a_bad_query_and_keeps_the_rest() -> None:
    book = RuleBook(Settings())
    good = make_rule("", [], kind="query", query="icahn")
    bad = WatchRule(id="bad", kind="query", entity=WatchedEntity(name="bad"), query="icahn AND (ebay")
    assert book.apply(good.id, encode(good)) is None
    reason = book.apply("bad", encode(bad))
    assert reason is not None and "expected ')' at column 16" in reason
    assert set(book.queries.nodes) == {good.id} and "bad" not in book.watchlist.rules
    # a valid version of a rule replaced by a bad one is out of force too
    broken = good.model_copy(update={"query": "title:"})
    assert book.apply(good.id, encode(broken)) is not None
    assert len(book.queries) == 0 and good.id not in book.watchlist.rules


def story_article(number: int, source: str) -> StoryArticle:
    return StoryArticle(id=f"a{number}", title=f"Title {number}", url=f"https://{source}/{number}", feed_id="f", source=source,
                        time=NOW.timestamp() + number, language="en", fetched=NOW + timedelta(seconds=number))  # fmt: skip


def hit(rule: WatchRule) -> QueryHit:
    return QueryHit(rule_id=rule.id, sentence="Carl Icahn bought eBay.", highlights=[MentionSpan(start=0, end=10, text="Carl Icahn")])


def test_a_query_rule_fires_once_per_story_when_enough_sources_match() -> None:
    rule = make_rule("", [], kind="query", query="icahn", min_sources=2, destinations=["console"], digest="daily")
    seen, alerts = evaluate_query(None, hit(rule), rule, story_article(1, "a.example"), "s1", [], NOW, 30)
    assert alerts == []  # one source so far
    seen, alerts = evaluate_query(seen, hit(rule), rule, story_article(2, "a.example"), "s1", [], NOW, 30)
    assert alerts == []  # the same source again
    seen, alerts = evaluate_query(seen, hit(rule), rule, story_article(3, "b.example"), "s1", [], NOW, 30)
    assert [(a.kind, a.update, a.source_count, a.digest, a.story_id) for a in alerts] == [("query", False, 2, "daily", "s1")]
    assert alerts[0].evidence == "**Carl Icahn** bought eBay." and alerts[0].highlights[0].text == "Carl Icahn"
    first = alerts[0].id
    seen, alerts = evaluate_query(seen, hit(rule), rule, story_article(4, "c.example"), "s1", [], NOW, 30)
    assert [(a.id, a.update, a.source_count) for a in alerts] == [(first, True, 3)]
    seen, alerts = evaluate_query(seen, hit(rule), rule, story_article(5, "c.example"), "s1", [], NOW, 30)
    assert alerts == []
    again, alerts = evaluate_query(seen, hit(rule), rule, story_article(4, "d.example"), "s1", [], NOW, 30)
    assert alerts == [] and again is seen  # article 4 again (a replay or a new revision) is counted once
    other, alerts = evaluate_query(seen, hit(rule), None, story_article(6, "d.example"), "s2", [], NOW, 30)
    assert alerts == [] and "s2" not in other.stories  # a rule removed since the match
    restored = QuerySeen.loads(seen.dumps())
    assert restored.stories["s1"].sources == ["a.example", "b.example", "c.example"] and restored.stories["s1"].fired


def test_a_story_split_in_one_burst_alerts_a_query_rule_once() -> None:
    # the story stage opened s1 and s2 for one piece of news a minute apart; article 3 would have joined either
    rule = make_rule("", [], kind="query", query="icahn")
    seen, alerts = evaluate_query(None, hit(rule), rule, story_article(1, "a.example"), "s1", [], NOW, 30)
    assert [(a.update, a.story_id) for a in alerts] == [(False, "s1")]
    first = alerts[0].id
    seen, alerts = evaluate_query(seen, hit(rule), rule, story_article(3, "c.example"), "s2", ["s1"], NOW, 30)
    assert [(a.id, a.update, a.story_id, a.source_count) for a in alerts] == [(first, True, "s1", 2)]
    # the link is kept: s2's later articles count in s1 without naming it
    seen, alerts = evaluate_query(seen, hit(rule), rule, story_article(4, "d.example"), "s2", [], NOW, 30)
    assert [(a.id, a.update, a.source_count) for a in alerts] == [(first, True, 3)]
    # a story the rule never matched is its own story, linked or not
    seen, alerts = evaluate_query(seen, hit(rule), rule, story_article(5, "e.example"), "s3", ["s9"], NOW, 30)
    assert [(a.update, a.story_id) for a in alerts] == [(False, "s3")]
    # a week later s1 is forgotten, and its links with it
    later = story_article(6, "f.example").model_copy(update={"time": NOW.timestamp() + 8 * 86_400})
    seen, _ = evaluate_query(seen, hit(rule), rule, later, "s4", [], NOW + timedelta(days=8), 30)
    assert set(seen.stories) == {"s4"} and seen.links == {}


def enriched(text: str, url: str = "https://www.bbc.co.uk/news/1", language: str | None = "en") -> EnrichedArticle:
    article = Article(id="x1", feed_id="feed-1", feed_url="", url=url, canonical_url=url, title="Mosul today", text=text,
                      fetched=NOW, content_hash="h", language=language)  # fmt: skip
    entity = Entity(id="mosul", name="Mosul", type="GPE", mentions=[MentionSpan(start=0, end=5, text="Mosul")], watch_ids=["r"])
    return EnrichedArticle(article=article, entities=[entity], model="m", enriched=NOW)


def mention_for(item: EnrichedArticle, watch_ids: list[str]) -> Mention:
    return mention(item.article.id, NOW, entity_id="mosul", name="Mosul", type="GPE", watch_ids=watch_ids, url=item.article.url)


def test_scopes_and_exclusions_screen_every_rule_kind() -> None:
    except_football = make_rule("Mosul", [], "GPE", kind="mention", exclude=["football"])
    bbc_only = make_rule("Mosul", [], "GPE", kind="spike", sources=["bbc.co.uk"], languages=["en"])
    index = QueryIndex([except_football, bbc_only])  # the index keeps every rule's scopes, as the rulebook's does
    item = enriched("Mosul football club won the cup.")
    mention = mention_for(item, [except_football.id, bbc_only.id])
    _, screened, _ = screen_article(item, [mention], index)
    assert screened[0].out_of_scope == [except_football.id]
    item = enriched("Mosul was calm.", url="https://example.org/1")
    _, screened, _ = screen_article(item, [mention_for(item, [except_football.id, bbc_only.id])], index)
    assert screened[0].out_of_scope == [bbc_only.id]
    item = enriched("Mosul was calm.")
    _, screened, _ = screen_article(item, [mention_for(item, [except_football.id, bbc_only.id])], index)
    assert screened[0].out_of_scope == []
    index.remove(bbc_only.id)  # a rule removed no longer screens
    item = enriched("Mosul was calm.", url="https://example.org/1")
    _, screened, _ = screen_article(item, [mention_for(item, [except_football.id, bbc_only.id])], index)
    assert screened[0].out_of_scope == []
