"""Query rules at scale: each rule's query compiled with its scopes and exclusions, candidates found through an
inverted index of their terms (never every rule on every article), and the evidence of a match with its highlights."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from wordfreq import zipf_frequency

from schemas import EnrichedArticle, WatchRule
from streams.alert.query import And, DocEntity, Node, Not, Or, QueryDoc, Span, Term, anchors, evaluate, parse_query, words_of
from streams.alert.querycompile import Check, Seen, compile_node, spans_of
from streams.enrich.fingerprint import source_of
from streams.errors import QuerySyntaxError, RuleError

#: characters of evidence shown around the first match
EVIDENCE_CHARS = 300
_SENTENCE_END = re.compile(r"[.!?…]\s|\n")
#: what anchoring at a scope key (feed, source, language, entity type) costs: any article may carry it, so a rule is
#: anchored there only when it names no word at all
SCOPE_COST = 1e9


def key_cost(key: str) -> float:
    """How many articles an index key is expected to bring: a word's frequency per billion words (wordfreq's English
    list, 1 for a word it does not know: names and non-English words are rare), a scope key :data:`SCOPE_COST`."""
    kind, _, value = key.partition(":")
    if kind in ("w", "e"):
        return float(10 ** zipf_frequency(value, "en"))
    return SCOPE_COST


def _any(field: str | None, values: Iterable[str], as_words: bool = False) -> Node | None:
    terms: list[Node] = []
    for value in values:
        words = tuple(words_of(value)) if as_words else (value.strip().casefold(),)
        if words and words[0]:
            terms.append(Term(field, words))
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else Or(tuple(terms))


def scope_node(rule: WatchRule) -> Node | None:
    """The rule's scopes and exclusions as one query node (None: it has none): --feed/--tag, --source, --lang, --exclude."""
    parts = [node for node in (_any("feed", rule.feeds), _any("source", rule.sources), _any("lang", rule.languages)) if node]
    excluded = _any(None, rule.exclude, as_words=True)
    if excluded is not None:
        parts.append(Not(excluded))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def rule_node(rule: WatchRule) -> Node:
    """A query rule's whole condition: its query AND its scopes AND NOT its exclusions; a bad query raises RuleError."""
    if not rule.query:
        raise RuleError("a query rule needs a query (--query, 'query:')")
    try:
        node = parse_query(rule.query)
    except QuerySyntaxError as exc:
        raise RuleError(f"query: {exc}") from exc
    scope = scope_node(rule)
    return node if scope is None else And((node, scope))


def in_scope(rule: WatchRule, doc: QueryDoc) -> bool:
    """Whether an article is within the rule's scopes and free of its excluded words (any rule kind)."""
    scope = scope_node(rule)
    return scope is None or evaluate(scope, doc) is not None


def doc_of(item: EnrichedArticle) -> QueryDoc:
    """The document queries see of an enriched article (``feed:`` matches its feed id or a tag its feed had when polled)."""
    article = item.article
    entities = tuple(
        DocEntity(
            names=tuple(tuple(words_of(name)) for name in (entity.name, *entity.aliases)),
            type=entity.type,
            id=entity.id,
            spans=tuple((m.start, m.end) for m in entity.mentions),
        )
        for entity in item.entities
    )
    text = article.text or article.summary
    return QueryDoc(
        title=article.title,
        text=text,
        source=source_of(article.url),
        feeds=frozenset({article.feed_id.casefold(), *(tag.casefold() for tag in article.tags)}),
        lang=(article.language or "").casefold(),
        entities=entities,
    )


@dataclass(frozen=True)
class Evidence:
    """One sentence of the article (or its title) with the matched spans in it, offsets relative to the sentence."""

    sentence: str
    highlights: tuple[tuple[int, int], ...]

    def marked(self) -> str:
        """The sentence with every highlight between ``**`` marks (streams.text.EVIDENCE_MARK)."""
        parts, last = [], 0
        for start, end in self.highlights:
            parts += [self.sentence[last:start], "**", self.sentence[start:end], "**"]
            last = end
        return "".join(parts) + self.sentence[last:]


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def evidence(doc: QueryDoc, spans: list[Span]) -> Evidence:
    """The sentence of the text holding the first match (the title when the text has none), every match in it marked."""
    in_text = sorted((s.start, s.end) for s in spans if s.where == "text" and 0 <= s.start < s.end <= len(doc.text))
    if not in_text:
        return Evidence(doc.title, tuple(_merged((s.start, s.end) for s in spans if s.where == "title")))
    first_start, first_end = in_text[0]
    text = doc.text
    begin = 0
    for boundary in _SENTENCE_END.finditer(text, max(0, first_start - EVIDENCE_CHARS), first_start):
        begin = boundary.end()
    after = _SENTENCE_END.search(text, first_end, first_end + EVIDENCE_CHARS)
    finish = after.start() + 1 if after else len(text)
    begin = max(begin, first_start - EVIDENCE_CHARS // 2)
    finish = min(finish, max(first_end, begin + EVIDENCE_CHARS))
    sentence = text[begin:finish]
    lead = len(sentence) - len(sentence.lstrip())
    inside = tuple((a - begin - lead, b - begin - lead) for a, b in _merged(in_text) if a >= begin + lead and b <= finish)
    return Evidence(sentence.strip(), inside)


@dataclass(frozen=True)
class QueryMatch:
    """A query rule that matches an article, with its evidence."""

    rule_id: str
    evidence: Evidence


class QueryIndex:
    """The query rules in force, each reachable from its anchor terms (see :func:`streams.alert.query.anchors`).

    Each rule is anchored at its rarest words (:func:`key_cost`) and compiled once (:func:`compile_node`). An article
    looks up each of its index keys (its words, entity words, types, feed, language, host suffixes) once and evaluates
    only the rules found there, plus the few without anchors (a lone prefix such as ``econom*``).
    """

    def __init__(self, rules: Iterable[WatchRule] = ()) -> None:
        self.nodes: dict[str, Node] = {}
        self.checks: dict[str, Check] = {}
        #: the other rules' scopes and exclusions, compiled: an article outside one marks its mentions out of scope
        self.scoped: dict[str, Check] = {}
        self.by_key: dict[str, set[str]] = {}
        self.unanchored: set[str] = set()
        self._keys: dict[str, frozenset[str] | None] = {}
        for rule in rules:
            self.put(rule)

    def __len__(self) -> int:
        return len(self.nodes)

    def put(self, rule: WatchRule) -> None:
        """Add or replace a rule (enabled query rules indexed, other rules' scopes kept); a bad query raises RuleError."""
        self.remove(rule.id)
        if not rule.enabled:
            return
        if rule.kind != "query":
            scope = scope_node(rule)
            if scope is not None:
                self.scoped[rule.id] = compile_node(scope)
            return
        node = rule_node(rule)
        keys = anchors(node, key_cost)
        self.nodes[rule.id] = node
        self.checks[rule.id] = compile_node(node)
        self._keys[rule.id] = keys
        if keys is None:
            self.unanchored.add(rule.id)
            return
        for key in keys:
            self.by_key.setdefault(key, set()).add(rule.id)

    def remove(self, rule_id: str) -> None:
        self.scoped.pop(rule_id, None)
        if self.nodes.pop(rule_id, None) is None:
            return
        del self.checks[rule_id]
        keys = self._keys.pop(rule_id, None)
        self.unanchored.discard(rule_id)
        for key in keys or ():
            ids = self.by_key.get(key)
            if ids is not None:
                ids.discard(rule_id)
                if not ids:
                    del self.by_key[key]

    def candidates(self, doc: QueryDoc) -> set[str]:
        """Rules that may match the article: those anchored at one of its keys, and the unanchored ones."""
        found = set(self.unanchored)
        by_key = self.by_key
        for key in doc.keys():
            ids = by_key.get(key)
            if ids:
                found |= ids
        return found

    def screen(self, doc: QueryDoc) -> tuple[list[QueryMatch], set[str]]:
        """The query rules the article matches, and the other rules whose scopes or exclusions it fails."""
        seen = Seen(doc)
        return self.matches(doc, seen), {rule_id for rule_id, check in self.scoped.items() if not check(seen)}

    def matches(self, doc: QueryDoc, seen: Seen | None = None) -> list[QueryMatch]:
        """The query rules that match the article, in rule id order, each with its evidence."""
        out = []
        seen = Seen(doc) if seen is None else seen
        spans_memo: dict[int, list[Span] | None] = {}
        # rules that match on the same spans (one word, one name) share their evidence: built once per article
        built: dict[frozenset[Span], Evidence] = {}
        checks = self.checks
        for rule_id in sorted(self.candidates(doc)):
            if not checks[rule_id](seen):  # most candidates fail on a word the article lacks: no span collected
                continue
            spans = spans_of(self.nodes[rule_id], seen, spans_memo)
            if spans is None:
                continue  # never: the compiled check and the tree agree (tests/unit/test_query_compile.py)
            key = frozenset(spans)
            found = built.get(key)
            if found is None:
                found = built[key] = evidence(doc, spans)
            out.append(QueryMatch(rule_id, found))
        return out
