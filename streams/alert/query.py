"""Query rules' language: Lucene query-string syntax (parsed by luqum) to a small AST, matched on word boundaries.

The syntax is the one people type into Kibana: terms, ``"quoted phrases"``, ``AND`` / ``OR`` / ``NOT`` / ``-term`` /
``+term``, parentheses, a trailing ``*`` (prefix) and the field scopes of :data:`FIELDS`. Two choices differ from
Elasticsearch and follow Google Alerts instead: words side by side must all appear (Elasticsearch's
``default_operator`` is OR), and matching is on whole words, case-insensitive and Unicode-aware (``pagan`` never
matches ``propaganda``). Terms are split into words the way texts are, so no character of a query is ever a regular
expression, and the limits below bound what one query may cost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from luqum import tree
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import parser

from streams.errors import QuerySyntaxError

#: field scopes: where a term must appear (title, text), or what the article must be (source host, feed id or tag,
#: language, an entity named in it, an entity type present)
FIELDS = ("title", "text", "source", "feed", "lang", "entity", "type")
#: characters in a query (Google's search box takes 2,048; a rule is a saved search, a little longer is fine)
MAX_QUERY_CHARS = 4096
#: terms in a query (Elasticsearch refuses more than 1,024 clauses; a rule is checked against every article)
MAX_TERMS = 256
#: nesting of parentheses and NOTs
MAX_DEPTH = 32
#: words in one phrase
MAX_PHRASE_WORDS = 16
#: letters before a trailing ``*``: a shorter prefix matches most of the language
MIN_PREFIX = 3

_WORD = re.compile(r"\w+")
_LUQUM_POSITION = re.compile(r"unexpected\s+'(.*)' at position (\d+)")
_OPERATORS_AS_WORDS = {"&&": "AND", "||": "OR", "!": "NOT"}


@dataclass(frozen=True, slots=True)
class Term:
    """Words in a row (one word, or a phrase), in a field or anywhere; ``prefix``: the last word is a prefix."""

    field: str | None
    words: tuple[str, ...]
    prefix: bool = False
    column: int = 1


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Node


Node = Term | And | Or | Not


def words_of(text: str) -> list[str]:
    """The words of ``text`` as a query compares them: runs of letters and digits, case-folded."""
    return [match.group(0).casefold() for match in _WORD.finditer(text)]


def _fail(reason: str, column: int, note: str = "") -> QuerySyntaxError:
    return QuerySyntaxError(f"{reason} at column {column}{note}", column)


def _depth_scan(text: str) -> None:
    """Refuse unbalanced or too deep parentheses before the parser sees them (its errors say only "at the end")."""
    depth, opened, quoted = 0, [], False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
            opened.append(index + 1)
            if depth > MAX_DEPTH:
                raise _fail(f"nesting deeper than {MAX_DEPTH} (MAX_DEPTH)", index + 1)
        elif not quoted and char == ")":
            if depth == 0:
                raise _fail("unexpected ')'", index + 1)
            depth -= 1
            opened.pop()
        index += 1
    if quoted:
        raise _fail("unterminated quote: expected '\"'", len(text) + 1)
    if opened:
        raise _fail("expected ')'", len(text) + 1, f" (to close the '(' at column {opened[-1]})")


def parse_query(text: str) -> Node:
    """The AST of ``text``; a query that cannot be a rule raises :class:`QuerySyntaxError` with the column."""
    if len(text) > MAX_QUERY_CHARS:
        raise _fail(f"query of {len(text):,} characters, more than {MAX_QUERY_CHARS:,} (MAX_QUERY_CHARS)", MAX_QUERY_CHARS + 1)
    if not text.strip():
        raise _fail("empty query", 1)
    _depth_scan(text)
    try:
        parsed = parser.parse(text)
    except IllegalCharacterError as exc:
        found = re.search(r"at position (\d+)", str(exc))
        raise _fail("illegal character", int(found.group(1)) + 1 if found else 1) from None
    except ParseError as exc:
        message = str(exc)
        found = _LUQUM_POSITION.search(message)
        if found:
            raise _fail(f"unexpected {found.group(1)!r}", int(found.group(2)) + 1) from None
        raise _fail("expected a term", len(text) + 1) from None
    counter = [0]
    node = _convert(parsed, None, 0, counter)
    if not _positive(node):
        raise _fail("a query needs a term that is not negated (NOT or -)", 1)
    return node


def _column(item: Any) -> int:
    return int(item.pos) + 1 if getattr(item, "pos", None) is not None else 1


def _convert(item: Any, scope: str | None, depth: int, counter: list[int]) -> Node:
    if depth > MAX_DEPTH:
        raise _fail(f"nesting deeper than {MAX_DEPTH} (MAX_DEPTH)", _column(item))
    if isinstance(item, tree.SearchField):
        name = item.name.casefold()
        if name not in FIELDS:
            raise _fail(f"unknown field {item.name!r} (fields: {', '.join(FIELDS)})", _column(item))
        if scope is not None:
            raise _fail(f"field {item.name!r} inside field {scope!r}", _column(item))
        return _convert(item.expr, name, depth + 1, counter)
    if isinstance(item, tree.Group | tree.FieldGroup):
        return _convert(item.expr, scope, depth + 1, counter)
    if isinstance(item, tree.OrOperation):
        return Or(tuple(_convert(child, scope, depth + 1, counter) for child in item.children))
    if isinstance(item, tree.AndOperation | tree.UnknownOperation | tree.BoolOperation):
        return And(tuple(_convert(child, scope, depth + 1, counter) for child in item.children))
    if isinstance(item, tree.Not | tree.Prohibit):
        return Not(_convert(item.a, scope, depth + 1, counter))
    if isinstance(item, tree.Plus):
        return _convert(item.a, scope, depth + 1, counter)
    if isinstance(item, tree.Boost):  # a boost ranks search results; a rule has nothing to rank
        return _convert(item.expr, scope, depth + 1, counter)
    if isinstance(item, tree.Word | tree.Phrase):
        counter[0] += 1
        if counter[0] > MAX_TERMS:
            raise _fail(f"more than {MAX_TERMS} terms (MAX_TERMS)", _column(item))
        return _term(item, scope)
    what = {
        tree.Regex: "regular expressions (/.../)",
        tree.Range: "ranges ([a TO b])",
        tree.Fuzzy: "fuzzy terms (~)",
        tree.Proximity: 'proximity ("..."~N)',
    }
    for kind, name in what.items():
        if isinstance(item, kind):
            raise _fail(f"{name} are not supported", _column(item))
    raise _fail(f"{type(item).__name__} is not supported", _column(item))


def _term(item: tree.Word | tree.Phrase, scope: str | None) -> Term:
    column = _column(item)
    value = item.value
    if isinstance(item, tree.Phrase):
        value = value[1:-1]
    elif value in _OPERATORS_AS_WORDS or value.startswith("!"):
        raise _fail(f"{value!r} is not an operator here: use {_OPERATORS_AS_WORDS.get(value, 'NOT')}", column)
    value = value.replace("\\", "")
    if scope in ("source", "feed", "lang", "type"):
        # a host, a feed id or tag, a language tag, a type: compared whole, not as words
        if not value.strip() or "*" in value or "?" in value:
            raise _fail(f"{scope}: needs a value without wildcards", column)
        return Term(scope, (value.strip().casefold(),), column=column)
    prefix = False
    if isinstance(item, tree.Word) and ("*" in value or "?" in value):
        if "?" in value or value.count("*") > 1 or not value.endswith("*"):
            raise _fail("only a trailing * is supported as a wildcard", column)
        value, prefix = value[:-1], True
    words = tuple(words_of(value))
    if not words:
        raise _fail(f"term {item.value!r} has no letter or digit", column)
    if len(words) > MAX_PHRASE_WORDS:
        raise _fail(f"phrase of {len(words)} words, more than {MAX_PHRASE_WORDS} (MAX_PHRASE_WORDS)", column)
    if prefix and sum(map(len, words)) < MIN_PREFIX:
        raise _fail(f"a prefix needs at least {MIN_PREFIX} letters before *", column)
    return Term(scope, words, prefix, column)


def _positive(node: Node) -> bool:
    """Whether the node can only match an article that has something in it (a query of NOTs alone matches all)."""
    if isinstance(node, Term):
        return True
    if isinstance(node, And):
        return any(_positive(part) for part in node.parts)
    if isinstance(node, Or):
        return all(_positive(part) for part in node.parts)
    return False


def anchors(node: Node, cost: Callable[[str], float] | None = None) -> frozenset[str] | None:
    """Index keys of which any article the node matches has at least one; None when there are none to name.

    An AND needs only one of its parts' keys, an OR needs every part's, a NOT never helps. ``cost`` says how many
    articles a key is expected to bring (the index passes word frequencies): a phrase is anchored at its cheapest word
    and an AND at its cheapest part's keys; without it, the longest word and the smallest set.
    """
    if isinstance(node, Term):
        return _term_keys(node, cost)
    if isinstance(node, And):
        sets = [keys for keys in (anchors(part, cost) for part in node.parts) if keys is not None]
        if not sets:
            return None
        return min(sets, key=len) if cost is None else min(sets, key=lambda keys: sum(map(cost, keys)))
    if isinstance(node, Or):
        union: set[str] = set()
        for part in node.parts:
            keys = anchors(part, cost)
            if keys is None:
                return None
            union |= keys
        return frozenset(union)
    return None


def _term_keys(term: Term, cost: Callable[[str], float] | None) -> frozenset[str] | None:
    if term.field in ("source", "feed", "lang", "type"):
        value = term.words[0]
        return frozenset({f"{term.field}:{value.split('-')[0] if term.field == 'lang' else value}"})
    whole = term.words[:-1] if term.prefix else term.words
    if not whole:
        return None  # a lone prefix: no key to look up (such rules are checked on every article)
    kind = "e:" if term.field == "entity" else "w:"
    if cost is None:
        return frozenset({kind + max(whole, key=len)})  # the longest word of a phrase: often the rarest
    return frozenset({min((kind + word for word in whole), key=cost)})


@dataclass(frozen=True, slots=True)
class Span:
    """A matched run of characters in the article's ``title`` or ``text``."""

    where: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class DocEntity:
    """An entity of the article as queries see it: its names' words, type, id and where it is mentioned."""

    names: tuple[tuple[str, ...], ...]
    type: str
    id: str
    spans: tuple[tuple[int, int], ...] = ()


class Words:
    """One text's words with their offsets, and where each word occurs (phrases are looked up from their first word)."""

    __slots__ = ("text", "words", "spans", "_at", "prefixed")

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans: list[tuple[int, int]] = [match.span() for match in _WORD.finditer(text)]
        folded = text.casefold()
        if len(folded) == len(text):
            # casefold maps characters one to one here (it only ever expands one, as ß to ss): each word is a slice of
            # the folded text, cut where the words of the text are (a few times faster than folding word by word)
            self.words: list[str] = [folded[start:end] for start, end in self.spans]
        else:
            self.words = [text[start:end].casefold() for start, end in self.spans]
        self._at: dict[str, list[int]] | None = None
        #: prefix → where words starting with it occur (filled as prefixes are asked for: rules share them)
        self.prefixed: dict[str, list[int]] = {}

    @property
    def at(self) -> dict[str, list[int]]:
        """Where each word occurs (built when a phrase or a span is first looked for: most articles need only the set)."""
        if self._at is None:
            at: dict[str, list[int]] = {}
            for index, word in enumerate(self.words):
                at.setdefault(word, []).append(index)
            self._at = at
        return self._at

    def find(self, words: tuple[str, ...], prefix: bool) -> list[tuple[int, int]]:
        """Character spans where ``words`` occur in a row (the last one as a prefix if ``prefix``)."""
        if prefix and len(words) == 1:
            if words[0] not in self.prefixed:
                self.prefixed[words[0]] = sorted(i for word, places in self.at.items() if word.startswith(words[0]) for i in places)
            firsts = self.prefixed[words[0]]
        else:
            firsts = self.at.get(words[0], [])
        found = []
        size = len(words)
        for first in firsts:
            if first + size > len(self.words):
                continue
            ok = all(self.words[first + k] == words[k] for k in range(1, size - 1 if prefix else size))
            if ok and size > 1:
                last = self.words[first + size - 1]
                ok = last.startswith(words[-1]) if prefix else True
            if ok:
                found.append((self.spans[first][0], self.spans[first + size - 1][1]))
        return found


@dataclass
class QueryDoc:
    """What a query is matched against: one article's title and text, host, feed id and tags, language, entities."""

    title: str
    text: str
    source: str = ""
    feeds: frozenset[str] = frozenset()
    lang: str = ""
    entities: tuple[DocEntity, ...] = ()
    _title: Words | None = field(default=None, repr=False)
    _text: Words | None = field(default=None, repr=False)
    _keys: set[str] | None = field(default=None, repr=False)

    def words(self, where: str) -> Words:
        if where == "title":
            if self._title is None:
                self._title = Words(self.title)
            return self._title
        if self._text is None:
            self._text = Words(self.text)
        return self._text

    def keys(self) -> set[str]:
        """Every index key the article has (see :func:`anchors`)."""
        if self._keys is None:
            keys = {"w:" + word for where in ("title", "text") for word in self.words(where).words}
            keys.update("e:" + word for entity in self.entities for name in entity.names for word in name)
            keys.update("e:" + entity.id.casefold() for entity in self.entities)
            keys.update("type:" + entity.type.casefold() for entity in self.entities)
            keys.update("feed:" + feed for feed in self.feeds)
            if self.lang:
                keys.add("lang:" + self.lang.split("-")[0])
            parts = self.source.split(".")
            keys.update("source:" + ".".join(parts[i:]) for i in range(len(parts)) if self.source)
            self._keys = keys
        return self._keys


def _contains(name: tuple[str, ...], words: tuple[str, ...], prefix: bool) -> bool:
    size = len(words)
    for start in range(len(name) - size + 1):
        head = all(name[start + k] == words[k] for k in range(size - 1))
        last = name[start + size - 1]
        if head and (last.startswith(words[-1]) if prefix else last == words[-1]):
            return True
    return False


def match_term(term: Term, doc: QueryDoc) -> list[Span] | None:
    """The term's spans in the document ([] when it holds without a span to mark), None when it does not hold."""
    value = term.words[0]
    if term.field == "source":
        host = doc.source.casefold()
        return [] if host == value or host.endswith("." + value) else None
    if term.field == "feed":
        return [] if value in doc.feeds else None
    if term.field == "lang":
        lang = doc.lang.casefold()
        return [] if lang == value or lang.split("-")[0] == value else None
    if term.field == "type":
        return [] if any(entity.type.casefold() == value for entity in doc.entities) else None
    if term.field == "entity":
        spans: list[Span] = []
        hit = False
        for entity in doc.entities:
            if entity.id.casefold() == " ".join(term.words) or any(_contains(n, term.words, term.prefix) for n in entity.names):
                hit = True
                spans.extend(Span("text", start, end) for start, end in entity.spans)
        return spans if hit else None
    places = ("title", "text") if term.field is None else (term.field,)
    spans = [Span(where, start, end) for where in places for start, end in doc.words(where).find(term.words, term.prefix)]
    return spans or None


def holds(node: Node, doc: QueryDoc, memo: dict[Term, bool]) -> bool:
    """Whether ``node`` holds on ``doc``, without collecting spans; ``memo`` keeps each term's answer for the article
    (rules share terms: the index evaluates hundreds of candidates per article)."""
    if isinstance(node, Term):
        known = memo.get(node)
        if known is None:
            if node.field is None and not node.prefix and len(node.words) == 1:
                known = node.words[0] in doc.words("title").at or node.words[0] in doc.words("text").at
            else:
                known = match_term(node, doc) is not None
            memo[node] = known
        return known
    if isinstance(node, And):
        return all(holds(part, doc, memo) for part in node.parts)
    if isinstance(node, Or):
        return any(holds(part, doc, memo) for part in node.parts)
    return not holds(node.part, doc, memo)


def evaluate(node: Node, doc: QueryDoc, memo: dict[Term, list[Span] | None] | None = None) -> list[Span] | None:
    """The spans that make ``node`` hold on ``doc`` (every matching term of a true OR), or None when it does not;
    ``memo`` keeps each term's spans for the article."""
    if isinstance(node, Term):
        if memo is None:
            return match_term(node, doc)
        if node not in memo:
            memo[node] = match_term(node, doc)
        return memo[node]
    if isinstance(node, And):
        spans: list[Span] = []
        for part in node.parts:  # negations last would be no faster: a NOT costs what its term costs
            found = evaluate(part, doc, memo)
            if found is None:
                return None
            spans.extend(found)
        return spans
    if isinstance(node, Or):
        hit = False
        spans = []
        for part in node.parts:
            found = evaluate(part, doc, memo)
            if found is not None:
                hit = True
                spans.extend(found)
        return spans if hit else None
    return None if evaluate(node.part, doc, memo) is not None else []
