"""The query language of query rules and search: each operator, scope and error, the limits, pathological inputs."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from streams.alert.query import (
    MAX_DEPTH,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    DocEntity,
    QueryDoc,
    anchors,
    evaluate,
    parse_query,
    words_of,
)
from streams.alert.queryindex import QueryIndex, evidence
from streams.alert.rulefile import make_rule
from streams.errors import QuerySyntaxError

DOC = QueryDoc(
    title="Carl Icahn pushes eBay to spin off PayPal",
    text=(
        "Activist investor Carl Icahn said on Monday that eBay should separate PayPal. "
        "The propaganda war at the board continued. Economists were unsure; C++ developers too."
    ),
    source="news.bbc.co.uk",
    feeds=frozenset({"feed-1", "business"}),
    lang="en-gb",
    entities=(
        DocEntity(names=(("carl", "icahn"), ("icahn",)), type="PERSON", id="ent-icahn", spans=((18, 28),)),
        DocEntity(names=(("ebay",),), type="ORG", id="9f0c2a7e1b", spans=((47, 51),)),
    ),
)

MATCHES = [
    ("a word", "icahn", True),
    ("case-insensitive", "ICAHN", True),
    ("a word only on its boundaries", "pagan", False),
    ("a word that is there whole", "propaganda", True),
    ("a phrase", '"Carl Icahn"', True),
    ("a phrase out of order", '"Icahn Carl"', False),
    ("words side by side must all appear", "icahn paypal", True),
    ("... and one missing fails", "icahn football", False),
    ("AND", "icahn AND paypal", True),
    ("AND failing", "icahn AND football", False),
    ("OR", "football OR paypal", True),
    ("OR failing", "football OR cricket", False),
    ("NOT", "icahn NOT football", True),
    ("NOT failing", "icahn NOT paypal", False),
    ("-term", "icahn -football", True),
    ("-term failing", "icahn -paypal", False),
    ("+term", "+icahn +paypal", True),
    ("parentheses", '"Carl Icahn" AND (eBay OR football) -cricket', True),
    ("parentheses failing", '"Carl Icahn" AND (cricket OR football)', False),
    ("precedence: AND before OR", "football AND cricket OR paypal", True),
    ("a trailing * is a prefix", "econom*", True),
    ("a * in a phrase is no wildcard (as in Lucene)", '"spin of*"', False),
    ("a prefix after a hyphen", "spin-of*", True),
    ("title:", "title:paypal", True),
    ("title: failing", "title:monday", False),
    ("title: a group", "title:(monday OR spin)", True),
    ("text:", "text:monday", True),
    ("text: failing", "text:spin", False),
    ("source: a host", "source:news.bbc.co.uk", True),
    ("source: a parent domain", "source:bbc.co.uk", True),
    ("source: not a substring", "source:c.co.uk", False),
    ("feed: the feed id", "feed:feed-1", True),
    ("feed: a tag", "feed:business", True),
    ("feed: failing", "feed:sport", False),
    ("lang: the primary tag", "lang:en", True),
    ("lang: whole tag", "lang:en-GB", True),
    ("lang: failing", "lang:fr", False),
    ("entity: the name", 'entity:"Carl Icahn"', True),
    ("entity: part of the name", "entity:icahn", True),
    ("entity: the id", "entity:9f0c2a7e1b", True),
    ("entity: failing (a word of the text, no entity)", "entity:paypal", False),
    ("type:", "type:PERSON", True),
    ("type: lower case", "type:org", True),
    ("type: failing", "type:GPE", False),
    ("regex metacharacters are word separators", "C++", True),
    ("a dotted term", "e.bay", False),
    ("Unicode words", "économistes", False),
    ("a boost is ignored", "icahn^2", True),
    ("NOT of a group", "icahn -(football OR cricket)", True),
    ("NOT of a group failing", "icahn -(football OR paypal)", False),
]


@pytest.mark.parametrize(("query", "expected"), [(q, e) for _, q, e in MATCHES], ids=[name for name, _, _ in MATCHES])
def test_each_operator_and_scope(query: str, expected: bool) -> None:
    assert (evaluate(parse_query(query), DOC) is not None) is expected


def test_unicode_case_folding_and_boundaries() -> None:
    doc = QueryDoc(title="STRASSE in Köln", text="Die Straße nach Zürich; ÉCOLE fermée. 東京 news")
    assert evaluate(parse_query("straße"), doc) is not None  # casefold: STRASSE and Straße are one word
    assert evaluate(parse_query("köln AND zürich AND école"), doc) is not None
    assert evaluate(parse_query("zür*"), doc) is not None
    assert evaluate(parse_query("ürich"), doc) is None
    assert evaluate(parse_query("東京"), doc) is not None


ERRORS = [
    ("unclosed parenthesis", '"Carl Icahn" AND (eBay OR PayPal', "expected ')' at column 33", 33),
    ("the example of the issue", "(icahn OR ebay AND", "expected ')' at column 19", 19),
    ("a stray ')'", "icahn)", "unexpected ')' at column 6", 6),
    ("two operators", "a AND AND b", "unexpected 'AND' at column 7", 7),
    ("a dangling operator", "icahn AND", "expected a term at column 10", 10),
    ("an unterminated quote", 'icahn "carl', "unterminated quote", 12),
    ("an unknown field", "icahn author:smith", "unknown field 'author'", 7),
    ("a field in a field", "title:text:x", "field 'text' inside field 'title'", 7),
    ("only negations", "-football NOT cricket", "a term that is not negated", 1),
    ("an empty query", "   ", "empty query", 1),
    ("a regular expression", "icahn /ic.*n/", "regular expressions", 7),
    ("a range", "[a TO b]", "ranges", 1),
    ("a fuzzy term", "icahn~", "fuzzy", 1),
    ("proximity", '"carl icahn"~3', "proximity", 1),
    ("a wildcard inside a word", "ic*hn", "only a trailing *", 1),
    ("a ? wildcard", "ica?n", "only a trailing *", 1),
    ("a short prefix", "ec*", "at least 3 letters", 1),
    ("a term without letters", "icahn ...", "no letter or digit", 7),
    ("&& is not an operator here", "a && b", "use AND", 3),
    ("a source with a wildcard", "source:bbc*", "without wildcards", 8),
]


@pytest.mark.parametrize(("query", "message", "column"), [(q, m, c) for _, q, m, c in ERRORS], ids=[n for n, *_ in ERRORS])
def test_errors_name_the_column(query: str, message: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert message in str(caught.value)
    assert caught.value.column == column
    assert f"column {column}" in str(caught.value)


PATHOLOGICAL = [
    ("10,000 ORs", " OR ".join(f"w{i}" for i in range(10_000)), "MAX_QUERY_CHARS"),
    ("10,000 short ORs within the length", " OR ".join(["a"] * 800), "MAX_TERMS"),
    ("nesting 1,000 deep", "(" * 1000 + "a" + ")" * 1000, "MAX_DEPTH"),
    ("NOT 1,000 deep", "a " + "NOT " * 1000 + "b", "MAX_"),
    ("a 1 MB query", "x" * (1 << 20), "MAX_QUERY_CHARS"),
]


@pytest.mark.parametrize(("query", "limit"), [(q, lim) for _, q, lim in PATHOLOGICAL], ids=[n for n, *_ in PATHOLOGICAL])
def test_pathological_queries_are_refused_with_the_limit_named(query: str, limit: str) -> None:
    started = time.perf_counter()
    with pytest.raises(QuerySyntaxError, match=limit):
        parse_query(query)
    print(f"refused in {time.perf_counter() - started:.4f} s")


def test_the_largest_allowed_queries_evaluate() -> None:
    """At the limits, a query still parses and evaluates: its cost is bounded by MAX_TERMS terms over the text's words."""
    wide = " OR ".join(f"w{i}" for i in range(MAX_TERMS))
    assert len(wide) <= MAX_QUERY_CHARS
    deep = "(" * (MAX_DEPTH - 1) + "icahn" + ")" * (MAX_DEPTH - 1)
    metachars = r'"a.*b" OR "(?:x)+" OR "\\d{1,99}" OR "[^$a]" OR icahn'
    big = QueryDoc(title="t", text=" ".join(f"w{i % 5000}" for i in range(200_000)))
    tracemalloc.start()
    started = time.perf_counter()
    assert evaluate(parse_query(wide), big) is not None
    assert evaluate(parse_query(deep), DOC) is not None
    assert evaluate(parse_query(metachars), DOC) is not None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"evaluated in {time.perf_counter() - started:.3f} s, peak {peak / 1e6:.1f} MB")


def test_spans_mark_every_matched_term_in_the_evidence() -> None:
    spans = evaluate(parse_query('"Carl Icahn" AND (eBay OR PayPal) -football'), DOC)
    assert spans is not None
    found = evidence(DOC, spans)
    assert found.sentence == "Activist investor Carl Icahn said on Monday that eBay should separate PayPal."
    assert found.marked() == "Activist investor **Carl Icahn** said on Monday that **eBay** should separate **PayPal**."
    assert [found.sentence[a:b] for a, b in found.highlights] == ["Carl Icahn", "eBay", "PayPal"]


def test_title_only_matches_give_the_title_as_evidence() -> None:
    spans = evaluate(parse_query("title:spin"), DOC)
    assert spans is not None
    assert evidence(DOC, spans).marked() == "Carl Icahn pushes eBay to **spin** off PayPal"


def test_anchors_are_keys_every_match_has() -> None:
    assert anchors(parse_query('"Carl Icahn" AND (eBay OR PayPal)')) in ({"w:ebay", "w:paypal"}, {"w:icahn"})
    assert anchors(parse_query("icahn OR type:PERSON")) == {"w:icahn", "type:person"}
    assert anchors(parse_query("econom*")) is None
    assert anchors(parse_query("econom* OR icahn")) is None
    assert anchors(parse_query("econom* icahn")) == {"w:icahn"}
    assert words_of("C++ and AT&T's") == ["c", "and", "at", "t", "s"]


def test_the_index_finds_the_same_rules_as_checking_every_rule() -> None:
    queries = [q for _, q, _ in MATCHES] + ["pagan OR cricket", "title:football", "lang:de icahn", "econom* -icahn"]
    rules = [make_rule("", [], kind="query", query=q) for q in queries]
    index = QueryIndex(rules)
    brute = sorted(rule.id for rule in rules if evaluate(index.nodes[rule.id], DOC) is not None)
    assert sorted(match.rule_id for match in index.matches(DOC)) == brute
    assert len(index.candidates(DOC)) < len(rules) or not brute  # the index leaves rules out
    other = QueryDoc(title="Cricket scores", text="Nothing here.")
    assert len(index.candidates(other)) < len(index.candidates(DOC))


def test_scopes_and_exclusions_join_a_query_rule() -> None:
    rule = make_rule(
        "", [], kind="query", query="icahn", sources=["bbc.co.uk"], languages=["en"], feeds=["business"], exclude=["proxy fight"]
    )
    index = QueryIndex([rule])
    assert [m.rule_id for m in index.matches(DOC)] == [rule.id]
    elsewhere = QueryDoc(title=DOC.title, text=DOC.text, source="example.org", feeds=DOC.feeds, lang="en")
    assert index.matches(elsewhere) == []
    excluded = QueryDoc(title=DOC.title, text=DOC.text + " A proxy fight looms.", source=DOC.source, feeds=DOC.feeds, lang="en")
    assert index.matches(excluded) == []
    index.remove(rule.id)
    assert index.matches(DOC) == [] and not index.by_key
