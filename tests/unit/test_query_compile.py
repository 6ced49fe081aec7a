"""The compiled fast path of query rules against the plain tree evaluation: the same answer on random queries and
articles, and the index (anchored at its rarest words) finding exactly the rules that checking every rule finds."""

from __future__ import annotations

import random

from schemas import WatchRule
from streams.alert.query import And, DocEntity, Node, Not, Or, QueryDoc, Term, evaluate, holds, parse_query
from streams.alert.querycompile import Seen, compile_node
from streams.alert.queryindex import QueryIndex, evidence, key_cost
from streams.alert.rulefile import make_rule
from streams.errors import QuerySyntaxError

# a small vocabulary, so that random queries and random articles share words and every branch is taken both ways
WORDS = ["ana", "lima", "bank", "banks", "rate", "cut", "oil", "price", "prices", "rise", "the", "mosul"]
PREFIXES = ["ban", "pri", "ris", "lim"]
FEEDS = ["feed-1", "business", "sport"]
HOSTS = ["bbc.co.uk", "news.bbc.co.uk", "example.org"]


def random_term(rnd: random.Random) -> Term:
    field = rnd.choice([None, None, None, "title", "text", "entity", "source", "feed", "lang", "type"])
    if field == "source":
        return Term("source", (rnd.choice(["bbc.co.uk", "co.uk", "example.org"]),))
    if field == "feed":
        return Term("feed", (rnd.choice(FEEDS),))
    if field == "lang":
        return Term("lang", (rnd.choice(["en", "en-gb", "de"]),))
    if field == "type":
        return Term("type", (rnd.choice(["person", "org", "gpe"]),))
    size = rnd.choice([1, 1, 1, 2, 2, 3])
    words = [rnd.choice(WORDS) for _ in range(size)]
    prefix = rnd.random() < 0.2
    if prefix:
        words[-1] = rnd.choice(PREFIXES)
    return Term(field, tuple(words), prefix)


def random_node(rnd: random.Random, depth: int = 0) -> Node:
    roll = rnd.random()
    if depth >= 3 or roll < 0.35:
        return random_term(rnd)
    if roll < 0.45:
        return Not(random_node(rnd, depth + 1))
    parts = tuple(random_node(rnd, depth + 1) for _ in range(rnd.randrange(2, 6)))
    return And(parts) if roll < 0.75 else Or(parts)


def random_doc(rnd: random.Random) -> QueryDoc:
    def sentence(size: int) -> str:
        return " ".join(rnd.choice(WORDS).capitalize() if rnd.random() < 0.3 else rnd.choice(WORDS) for _ in range(size))

    text = ". ".join(sentence(rnd.randrange(3, 12)) for _ in range(rnd.randrange(0, 4)))
    entities = tuple(
        DocEntity(names=((rnd.choice(WORDS), rnd.choice(WORDS)),), type=rnd.choice(["PERSON", "ORG"]), id=f"e{i}", spans=((0, 3),))
        for i in range(rnd.randrange(0, 3))
    )
    return QueryDoc(
        title=sentence(rnd.randrange(0, 6)),
        text=text,
        source=rnd.choice(HOSTS),
        feeds=frozenset(rnd.sample(FEEDS, rnd.randrange(1, 3))),
        lang=rnd.choice(["en", "en-gb", "de", ""]),
        entities=entities,
    )


def test_the_compiled_check_and_the_tree_agree_on_random_queries() -> None:
    rnd = random.Random(15)
    docs = [random_doc(rnd) for _ in range(40)]
    agreed = held = 0
    for _ in range(1500):
        node = random_node(rnd)
        check = compile_node(node)
        for doc in docs:
            expected = holds(node, doc, {})
            assert (evaluate(node, doc) is not None) == expected, node
            assert check(Seen(doc)) == expected, (node, doc)
            agreed += 1
            held += expected
    print(f"{agreed:,} query x article pairs agree; {held:,} hold")
    assert 0.1 * agreed < held < 0.9 * agreed  # both answers are well represented, so the comparison means something


def test_one_seen_article_serves_many_rules_as_each_alone() -> None:
    rnd = random.Random(16)
    nodes = [random_node(rnd) for _ in range(300)]
    checks = [compile_node(node) for node in nodes]
    for _ in range(30):
        doc = random_doc(rnd)
        shared = Seen(doc)  # the memo of phrase and scope terms is shared by every rule of the article
        assert [check(shared) for check in checks] == [check(Seen(doc)) for check in checks]


def test_the_index_finds_what_checking_every_rule_finds_on_random_queries() -> None:
    rnd = random.Random(17)
    rules: dict[str, WatchRule] = {}  # by id: the same random query twice is one rule
    while len(rules) < 400:
        node = random_node(rnd)
        query = _text(node)
        try:
            parse_query(query)
        except QuerySyntaxError:  # a random tree may be a NOT-only query, which rules refuse
            continue
        rule = make_rule("", [], kind="query", query=query)
        rules[rule.id] = rule
    index = QueryIndex(rules.values())
    candidates = 0
    for _ in range(60):
        doc = random_doc(rnd)
        brute = sorted(rule_id for rule_id in rules if evaluate(index.nodes[rule_id], doc) is not None)
        found = index.matches(doc)
        assert sorted(match.rule_id for match in found) == brute
        for match in found:  # the evidence and highlights too: spans collected the fast way are the tree's spans
            spans = evaluate(index.nodes[match.rule_id], doc)
            assert spans is not None and match.evidence == evidence(doc, spans)
        candidates += len(index.candidates(doc))
    assert candidates < 60 * len(rules)  # the index leaves rules out


def test_rules_are_anchored_at_their_rarest_word_never_at_a_scope() -> None:
    assert key_cost("w:icahn") < key_cost("w:investor") < key_cost("w:the") < key_cost("lang:en")
    index = QueryIndex([make_rule("", [], kind="query", query='"the investor Icahn" AND lang:en AND feed:business')])
    assert set(index.by_key) == {"w:icahn"}


def _text(node: Node) -> str:
    """Query syntax for a tree (phrases quoted, fields prefixed), so random trees go through the parser too."""
    if isinstance(node, Term):
        value = " ".join(node.words) + ("*" if node.prefix else "")
        quoted = f'"{value}"' if len(node.words) > 1 or node.prefix and len(node.words) > 1 else value
        return f"{node.field}:{quoted}" if node.field else quoted
    if isinstance(node, Not):
        return f"NOT ({_text(node.part)})"
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(_text(part) for part in node.parts) + ")"
