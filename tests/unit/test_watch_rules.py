"""The watchlist automaton and the alert rules, without Kafka."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from streams import ids
from streams.alert.mentions import EntitySeen, evaluate_mention, mark_evidence
from streams.alert.rulefile import load_rules_yaml, make_rule
from streams.enrich.gazetteer import Watchlist, watched_entity_id
from streams.story.decide import story_id_for
from tests import factories

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_hits_are_whole_words_longest_first() -> None:
    watchlist = Watchlist([make_rule("Marta Kowalczyk", ["Kowalczyk"]), make_rule("Kessel", [])])
    text = "Marta Kowalczyk met Kowalczyks and Kessel Valley; Kowalczyk spoke in Kesselring."
    hits = [(h.text, h.start) for h in watchlist.find(text)]
    assert hits == [("Marta Kowalczyk", 0), ("Kessel", 35), ("Kowalczyk", 50)]


def test_rule_ids_are_derived() -> None:
    assert make_rule("Marta  Kowalczyk", []).id == make_rule("marta kowalczyk", ["x"]).id
    assert make_rule("A", [], kind="mention").id != make_rule("A", []).id


def test_watchlist_yaml() -> None:
    rules = load_rules_yaml("watch:\n  - name: Ana Lima\n    aliases: [Lima]\n    type: PERSON\n  - Redmoor\n")
    assert [r.entity.name for r in rules] == ["Ana Lima", "Redmoor"]
    assert rules[0].entity.aliases == ["Lima"]
    with pytest.raises(ValueError, match="entry 1"):
        load_rules_yaml("watch:\n  - aliases: [x]\n")


#: the mention of these tests: "Ana Lima" 10 characters into a sentence that starts 100 characters into the text
mention = partial(factories.mention, sentence="Yesterday Ana Lima spoke.", sentence_start=100, start=110, end=118)


def test_new_mention_fires_once_per_lookback() -> None:
    rule = make_rule("Ana Lima", [])
    seen, alerts = evaluate_mention(mention("a1", T0), None, [rule], T0, 30)
    assert len(alerts) == 1
    assert alerts[0].evidence == "Yesterday **Ana Lima** spoke."
    assert alerts[0].id == ids.story_alert_id(rule.id, story_id_for("a1"))  # the article's own story: no story stage here
    # the same article again (replay, or a new revision): nothing
    seen, again = evaluate_mention(mention("a1", T0 + timedelta(hours=1)), seen, [rule], T0, 30)
    assert again == []
    # another article within the window: nothing
    seen, within = evaluate_mention(mention("a2", T0 + timedelta(days=10)), seen, [rule], T0, 30)
    assert within == []
    # after 30 quiet days: new again
    seen, after = evaluate_mention(mention("a3", T0 + timedelta(days=41)), seen, [rule], T0, 30)
    assert len(after) == 1
    assert seen.mentions == 3


def test_mention_rule_fires_per_article() -> None:
    rule = make_rule("Ana Lima", [], kind="mention")
    seen: EntitySeen | None = None
    fired = 0
    for article in ("a1", "a2", "a1", "a3"):
        seen, alerts = evaluate_mention(mention(article, T0), seen, [rule], T0, 30)
        fired += len(alerts)
    assert fired == 3


def test_disabled_rule_is_silent() -> None:
    rule = make_rule("Ana Lima", []).model_copy(update={"enabled": False})
    assert evaluate_mention(mention("a1", T0), None, [rule], T0, 30)[1] == []


@pytest.mark.parametrize(("start", "end", "expected"), [(0, 3, "**abc** def"), (4, 7, "abc **def**"), (5, 99, "abc def")])
def test_mark_evidence(start: int, end: int, expected: str) -> None:
    assert mark_evidence("abc def", start, end) == expected


def test_watched_entity_id_prefers_wikidata() -> None:
    with_qid = make_rule("Ana Lima", [], "PERSON", "Q1").entity
    assert watched_entity_id(with_qid) == watched_entity_id(make_rule("A. Lima", [], "PERSON", "Q1").entity)
    assert watched_entity_id(make_rule("Ana Lima", [], "PERSON").entity) == ids.entity_id("Ana Lima", "PERSON")
