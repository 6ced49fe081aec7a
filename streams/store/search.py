"""``wirewatch search`` in the query-rule language: SQL narrows the candidates, the rules' own matcher decides each one.

One parser (:func:`streams.alert.query.parse_query`) and one matcher (:func:`streams.alert.query.evaluate` on a
:class:`~streams.alert.query.QueryDoc` built as a rule builds it) serve rules and searches, so a search and a rule
with the same query agree on the same stored articles. The full-text index only narrows: the expression handed to it
is implied by the query (NOTs and scopes it cannot see are left out, phrases and prefixes are kept when the index reads
words as we do), so it never drops an article the matcher would take.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from streams.alert.query import And, DocEntity, Node, Or, QueryDoc, Term, evaluate, parse_query, words_of
from streams.alert.queryindex import evidence
from streams.enrich.fingerprint import source_of
from streams.store.queries import HitSpan, SearchHit, SearchQuery

#: candidate rows read per round trip at most; the first page is twice the limit (most candidates match: the index
#: holds the query's words), each next one twice the last, until ``limit`` hits are found
PAGE = 500
#: "ss" occurrences in one word spelled out as "ß" too (the full-text tokenisers lower-case, the matcher case-folds)
_MAX_SHARP_S = 2


def compile_search(text: str) -> Node:
    """The query of a search, parsed by the rules' parser (a bad query raises QuerySyntaxError with the column)."""
    return parse_query(text)


def _spellings(word: str) -> list[str] | None:
    """The lower-case spellings whose case-fold is ``word`` that a full-text index may hold; None: cannot tell."""
    if "σ" in word or not any(char.isalnum() for char in word):
        return None  # final sigma folds to σ but lower-cases to ς; a word of underscores is no token at all
    count = word.count("ss")
    if count == 0:
        return [word]
    if count > _MAX_SHARP_S:
        return None
    pieces = word.split("ss")
    out = []
    for choice in itertools.product(("ss", "ß"), repeat=count):
        out.append(pieces[0] + "".join(sep + piece for sep, piece in zip(choice, pieces[1:], strict=True)))
    return out


def fts5_match(node: Node) -> str | None:
    """An FTS5 MATCH expression every article the node matches satisfies; None when the index cannot narrow."""
    if isinstance(node, Term):
        if node.field not in (None, "title", "text"):
            return None  # host, feed, language and entities are not in the index: the matcher checks them
        variants = [_spellings(word) for word in node.words]
        if any(v is None for v in variants):
            return None
        column = f"{node.field} : " if node.field else ""
        phrases = [
            f'{column}"{" ".join(words)}"' + ("*" if node.prefix else "")
            for words in itertools.islice(itertools.product(*(v or () for v in variants)), 16)
        ]
        return phrases[0] if len(phrases) == 1 else "(" + " OR ".join(phrases) + ")"
    return _combine(node, fts5_match, " AND ", " OR ")


def pg_tsquery(node: Node) -> str | None:
    """A ``to_tsquery('simple', ...)`` expression every article the node matches satisfies; None: no narrowing.

    Each word is a prefix (``'amazon':*``) because PostgreSQL's parser keeps hosts, e-mail addresses and decimals as
    one token (``amazon.com``) where the matcher sees two words; words inside such a token are not found (docs/rules.md).
    """
    if isinstance(node, Term):
        if node.field not in (None, "title", "text"):
            return None
        parts = []
        for word in node.words:
            spellings = _spellings(word)
            if spellings is None:
                return None
            parts.append(" | ".join(f"'{spelling}':*" for spelling in spellings))
        return " & ".join(f"({part})" for part in parts)
    return _combine(node, pg_tsquery, " & ", " | ")


def _combine(node: Node, convert: Callable[[Node], str | None], and_: str, or_: str) -> str | None:
    if isinstance(node, And):
        parts = [part for part in (convert(child) for child in node.parts) if part is not None]
        return "(" + and_.join(parts) + ")" if parts else None
    if isinstance(node, Or):
        found = [convert(child) for child in node.parts]
        if any(part is None for part in found):
            return None  # one branch the index cannot see: any article may match through it
        return "(" + or_.join(str(part) for part in found) + ")"
    return None  # a NOT: an article without the word may still contain it in a form the index reads differently


@dataclass(frozen=True)
class Candidate:
    """A stored article the SQL narrowing let through, with what a rule would see of it."""

    article_id: str
    title: str
    url: str
    feed_id: str
    published: str | None
    fetched: str
    summary: str
    text: str
    language: str | None
    story_id: str | None


def _spans_of(raw: object) -> tuple[tuple[int, int], ...]:
    value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    if not isinstance(value, list):
        return ()
    return tuple((int(pair[0]), int(pair[1])) for pair in value if isinstance(pair, list) and len(pair) == 2)


def doc_of_stored(row: Candidate, mentions: Iterable[tuple[str, str, str, object]]) -> QueryDoc:
    """The document a query rule sees of the stored article (as :func:`streams.alert.queryindex.doc_of` builds it:
    text else summary, host, feed id, language; entities by their stored names, types, ids and mention spans)."""
    entities = tuple(
        DocEntity(names=(tuple(words_of(name)),), type=kind, id=entity_id, spans=_spans_of(spans))
        for entity_id, name, kind, spans in mentions
    )
    return QueryDoc(
        title=row.title,
        text=row.text or row.summary,
        source=source_of(row.url),
        feeds=frozenset({row.feed_id.casefold()}),
        lang=(row.language or "").casefold(),
        entities=entities,
    )


class SearchRun:
    """One search over pages of candidates: each is matched with the rules' matcher until ``limit`` hits are kept."""

    def __init__(self, query: SearchQuery) -> None:
        self.query = query
        self.node = compile_search(query.text)
        self.hits: list[SearchHit] = []
        self._text = query.text.casefold()

    def page(self, read: int) -> int:
        """How many candidates to read next, ``read`` having been read so far."""
        return min(PAGE, max(2 * self.query.limit, 40, read))

    @property
    def done(self) -> bool:
        return len(self.hits) >= self.query.limit

    def add(self, rows: list[Candidate], mentions: dict[str, list[tuple[str, str, str, object]]]) -> None:
        """Match one page of candidates (newest first) and keep the hits, up to the limit."""
        for row in rows:
            if self.done:
                return
            found = mentions.get(row.article_id, [])
            doc = doc_of_stored(row, found)
            spans = evaluate(self.node, doc)
            if spans is None:
                continue
            named = sorted({(name, kind) for _, name, kind, _ in found if self._names(name)})
            if self.query.entity_type is not None and not any(kind == self.query.entity_type for _, kind in named):
                continue  # --type: the search must name an entity of that type in the article
            shown = [f"{name} ({kind})" for name, kind in named if self.query.entity_type in (None, kind)]
            said = evidence(doc, spans)
            self.hits.append(
                SearchHit(
                    row.article_id, row.title, row.url, row.feed_id, row.published, row.fetched, said.sentence,
                    entities=shown, story_id=row.story_id,
                    highlights=[HitSpan("snippet", a, b, said.sentence[a:b]) for a, b in said.highlights],
                    spans=[HitSpan(s.where, s.start, s.end, (doc.title if s.where == "title" else doc.text)[s.start:s.end])
                           for s in sorted(set(spans), key=lambda s: (s.where != "title", s.start, s.end))],
                )
            )  # fmt: skip

    def _names(self, name: str) -> bool:
        """Whether the search names the entity (its name in the query's text, or the query's text in its name)."""
        folded = name.casefold()
        return bool(folded) and (folded in self._text or self._text in folded)
