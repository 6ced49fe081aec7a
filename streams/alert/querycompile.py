"""Queries compiled once to closures over an article's word sets: the fast path that gives :func:`query.holds`'s answers.

Walking a query's tree per candidate costs an ``isinstance`` chain and a memo lookup per node; most candidates fail on
a word the article does not have. Compiled, the plain words of an AND become one subset test and those of an OR one
``isdisjoint`` test on the article's set of words (per field, computed once per article), a phrase is looked for only
once its words are all present, a prefix is one binary search in the article's sorted words, and NOTs run last.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

from streams.alert.query import And, Node, Not, Or, QueryDoc, Span, Term, match_term

#: where a word is looked for: anywhere (title or text), or in one field
_PLACES = (None, "title", "text")


class Seen:
    """One article as compiled queries see it: its words as sets per field, sorted for prefixes, and a memo of the
    terms that need more than a set lookup (phrases, prefixes in phrases, entities, scopes), shared by every rule."""

    __slots__ = ("doc", "title", "text", "both", "_sorted", "memo")

    def __init__(self, doc: QueryDoc) -> None:
        self.doc = doc
        self.title = frozenset(doc.words("title").words)
        self.text = frozenset(doc.words("text").words)
        self.both = self.title | self.text
        self._sorted: dict[str | None, list[str]] = {}
        #: by the term object's id: a frozen dataclass hashes its whole value on every lookup (terms live in the index)
        self.memo: dict[int, bool] = {}

    def words(self, where: str | None) -> frozenset[str]:
        return self.both if where is None else self.title if where == "title" else self.text

    def has_prefix(self, where: str | None, prefix: str) -> bool:
        """Whether a word of the field starts with ``prefix``: the first word not below it in sorted order does, if any."""
        ordered = self._sorted.get(where)
        if ordered is None:
            ordered = self._sorted[where] = sorted(self.words(where))
        at = bisect_left(ordered, prefix)
        return at < len(ordered) and ordered[at].startswith(prefix)

    def term(self, term: Term) -> bool:
        """The full term test (word runs, entity names, scopes), once per article and term."""
        known = self.memo.get(id(term))
        if known is None:
            known = self.memo[id(term)] = match_term(term, self.doc) is not None
        return known


Check = Callable[[Seen], bool]


def _plain(node: Node) -> bool:
    """A single whole word in the title, the text or either: decided by a set lookup alone."""
    return isinstance(node, Term) and node.field in _PLACES and len(node.words) == 1 and not node.prefix


def _term_check(term: Term) -> Check:
    if term.field not in _PLACES:  # entity names, source, feed, language, type
        return lambda seen: seen.term(term)
    where = term.field
    if _plain(term):
        word = term.words[0]
        if where is None:
            return lambda seen: word in seen.both
        return lambda seen: word in seen.words(where)
    whole = frozenset(term.words[:-1] if term.prefix else term.words)
    if term.prefix and len(term.words) == 1:
        prefix = term.words[0]
        return lambda seen: seen.has_prefix(where, prefix)
    last = term.words[-1]
    if term.prefix:
        return lambda seen: whole <= seen.words(where) and seen.has_prefix(where, last) and seen.term(term)
    # a phrase: its words all present first (a set test), its word run looked for only then
    return lambda seen: whole <= seen.words(where) and seen.term(term)


def _every(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda seen: first(seen) and second(seen)

    def every(seen: Seen) -> bool:
        for check in checks:
            if not check(seen):
                return False
        return True

    return every


def _some(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda seen: first(seen) or second(seen)

    def some(seen: Seen) -> bool:
        for check in checks:
            if check(seen):
                return True
        return False

    return some


def _word_sets(parts: tuple[Node, ...]) -> tuple[dict[str | None, frozenset[str]], list[Node]]:
    """The plain words of ``parts`` grouped by field, and the other parts."""
    words: dict[str | None, set[str]] = {}
    rest: list[Node] = []
    for part in parts:
        if isinstance(part, Term) and _plain(part):
            words.setdefault(part.field, set()).add(part.words[0])
        else:
            rest.append(part)
    return {where: frozenset(group) for where, group in words.items()}, rest


def _all_of(where: str | None, words: frozenset[str]) -> Check:
    if len(words) == 1:
        return _term_check(Term(where, tuple(words)))
    return lambda seen: words <= seen.words(where)


def _any_of(where: str | None, words: frozenset[str]) -> Check:
    if len(words) == 1:
        return _term_check(Term(where, tuple(words)))
    return lambda seen: not words.isdisjoint(seen.words(where))


def compile_node(node: Node) -> Check:
    """A function of a :class:`Seen` article that is true exactly when :func:`streams.alert.query.holds` is."""
    if isinstance(node, Term):
        return _term_check(node)
    if isinstance(node, Not):
        inner = compile_node(node.part)
        return lambda seen: not inner(seen)
    words, rest = _word_sets(node.parts)
    if isinstance(node, And):
        # set tests first, then the other positive parts, NOTs last: a rule fails most often on a missing word
        rest.sort(key=lambda part: isinstance(part, Not))
        return _every([_all_of(where, group) for where, group in words.items()] + [compile_node(part) for part in rest])
    if isinstance(node, Or):
        return _some([_any_of(where, group) for where, group in words.items()] + [compile_node(part) for part in rest])
    raise TypeError(f"not a query node: {node!r}")


_UNSEEN: list[Span] = []


def spans_of(node: Node, seen: Seen, memo: dict[int, list[Span] | None]) -> list[Span] | None:
    """:func:`streams.alert.query.evaluate` for a rule known to match: the same spans, but a term whose words the
    article lacks is refused by a set lookup instead of a search (an OR of ten names usually has one present);
    ``memo`` keeps each term's spans for the article, by the term's id."""
    if isinstance(node, Term):
        known = memo.get(id(node), _UNSEEN)
        if known is not _UNSEEN:
            return known
        if node.field in _PLACES:
            words = seen.words(node.field)
            whole = node.words[:-1] if node.prefix else node.words
            if not all(word in words for word in whole) or (node.prefix and not seen.has_prefix(node.field, node.words[-1])):
                memo[id(node)] = None
                return None
        found = memo[id(node)] = match_term(node, seen.doc)
        return found
    if isinstance(node, Not):
        return None if spans_of(node.part, seen, memo) is not None else []
    spans: list[Span] = []
    hit = False
    for part in node.parts:
        found = spans_of(part, seen, memo)
        if found is None:
            if isinstance(node, And):
                return None
            continue
        hit = True
        spans.extend(found)
    return spans if hit or isinstance(node, And) else None
