"""A spaCy doc's parse read once into plain lists (tokens as indices), and sentence lookups over it."""

from __future__ import annotations

import bisect
from itertools import chain
from typing import Any

import numpy
from spacy.attrs import DEP, ENT_IOB, ENT_TYPE, HEAD, IDX, LENGTH, LIKE_NUM, LOWER, ORTH, POS, SENT_START, SPACY, TAG

#: spaCy's hash → string of parse labels (POS, tag, dependency, entity type): a few hundred strings, the same in every doc
LABELS: dict[int, str] = {}


#: spaCy's hash → word (lower-case or as written), for the same reason (a hash names the same string in every vocabulary)
_WORDS: dict[int, str] = {}


#: what ``ParsedDoc`` reads with one ``Doc.to_array``: label hashes, word hashes (lower-case, as written), then integers
_ATTRS = [POS, TAG, DEP, ENT_TYPE, LOWER, ORTH, HEAD, IDX, LENGTH, LIKE_NUM, SENT_START, SPACY, ENT_IOB]


_SPACE = ("", " ")


def _names(column: list[int], strings: Any, cache: dict[int, str]) -> list[str]:
    """The strings of a column of spaCy hashes, through ``cache``.

    ``map`` over a dict lookup runs the per-token loop in C; ``StringStore`` decodes a new ``str`` on every read.
    """
    try:
        return list(map(cache.__getitem__, column))
    except KeyError:  # a word not seen before (every few articles), a label not seen before (only at the start)
        for key in set(column).difference(cache):
            cache[key] = strings[key]
        # .get: another thread may have emptied the cache meanwhile (see ParsedDoc); "" is the string of hash 0
        return [cache.get(key) or strings[key] for key in column]


class ParsedDoc:
    """One spaCy doc's parse read once into plain lists, tokens as their indices.

    Every attribute read on a spaCy ``Token`` or ``Span`` builds a new Python object (a ``Token`` per
    ``.head`` or child, a ``str`` per ``.dep_``); one ``Doc.to_array`` and list indexing cost a
    fraction of that, and extraction reads the same tokens many times.
    """

    doc: Any
    text: str
    #: one row per token, the columns of _ATTRS (HEAD made absolute)
    array: Any
    pos: list[str]
    tag: list[str]
    dep: list[str]
    ent_type: list[str]
    lower: list[str]
    head: list[int]
    idx: list[int]
    length: list[int]
    like_num: list[int]
    #: (first token, token after the last) of every sentence
    sents: list[tuple[int, int]]
    #: (first token, token after the last, start char, end char, label) of every named entity
    ents: list[tuple[int, int, int, int, str]]
    _children: list[int]
    _first: list[int]
    _edges: dict[int, tuple[int, int]]

    __slots__ = (
        "_children",
        "_edges",
        "_first",
        "array",
        "dep",
        "doc",
        "ent_type",
        "ents",
        "head",
        "idx",
        "length",
        "like_num",
        "lower",
        "pos",
        "sents",
        "tag",
        "text",
    )

    def __init__(self, doc: Any, text: str | None = None) -> None:
        self.doc = doc
        n = len(doc)
        array = doc.to_array(_ATTRS).reshape(n, len(_ATTRS))
        strings = doc.vocab.strings
        self.array = array
        columns = array[:, :6].T.tolist()
        self.pos, self.tag, self.dep, self.ent_type = (_names(column, strings, LABELS) for column in columns[:4])
        self.lower = _names(columns[4], strings, _WORDS)
        if len(_WORDS) > 100_000:  # news vocabulary is bounded; the cap keeps a pathological stream from growing it
            _WORDS.clear()
        numbers = array[:, 6:].view(numpy.int64)  # HEAD and SENT_START are signed values stored as uint64
        tokens = numpy.arange(n, dtype=numpy.int64)
        numbers[:, 0] += tokens  # HEAD is relative to the token
        self.head, self.idx, self.length, self.like_num, sent_start, space, _ = numbers.T.tolist()
        # children grouped by head in index order, as Token.children yields them (left ones, then right ones); a
        # list per token would be hundreds of allocations per doc for the few tokens whose children are read
        heads = numpy.where(numbers[:, 0] == tokens, n, numbers[:, 0])  # a root is no child of itself
        order = numpy.argsort(heads, kind="stable")
        self._children = order.tolist()
        self._first = numpy.searchsorted(heads, numpy.arange(n + 2), sorter=order).tolist()
        # as Doc.text (every token and its trailing space), without building a Token per word
        if text is None:
            orth = _names(columns[5], strings, _WORDS)
            text = "".join(chain.from_iterable(zip(orth, map(_SPACE.__getitem__, space), strict=True)))
        self.text = text
        # as Doc.sents: a sentence starts at token 0 and at every later token whose sent_start is 1
        starts = [0, *(i for i in numpy.flatnonzero(numpy.asarray(sent_start) == 1).tolist() if i)]
        self.sents = list(zip(starts, [*starts[1:], n], strict=True)) if n else []
        self.ents = self._entities(array[:, 3], numbers[:, 6])
        self._edges = {}

    def _entities(self, ent_type: Any, iob: Any) -> list[tuple[int, int, int, int, str]]:
        """As ``Doc.ents``, from the IOB column: ``Doc.ents`` builds a ``Span``, and ``Token`` objects, per entity.

        An entity opens at a B token with a label and runs over the I tokens after it.
        """
        opens = (iob == 3) & (ent_type != 0)
        inside = iob == 1
        if (inside & ~numpy.concatenate(([False], (inside | opens)[:-1]))).any():
            return [(e.start, e.end, e.start_char, e.end_char, e.label_) for e in self.doc.ents]  # spaCy's error on an I outside any entity
        starts = numpy.flatnonzero(opens)
        bounds = numpy.flatnonzero(~inside)  # an entity ends at the first token after it that is not I, or at the doc's end
        ends = numpy.append(bounds, len(inside))[numpy.searchsorted(bounds, starts, side="right")]
        return [(s, e, self.idx[s], self.end_char(e - 1), self.ent_type[s]) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]

    def children(self, i: int) -> list[int]:
        """Token ``i``'s syntactic children, in order."""
        return self._children[self._first[i] : self._first[i + 1]]

    def end_char(self, i: int) -> int:
        """Where token ``i``'s text ends."""
        return self.idx[i] + self.length[i]

    def edges(self, i: int) -> tuple[int, int]:
        """The first and last token of token ``i``'s subtree (spaCy keeps them; only a few tokens per doc need them)."""
        edges = self._edges.get(i)
        if edges is None:
            token = self.doc[i]
            edges = self._edges[i] = (token.left_edge.i, token.right_edge.i)
        return edges

    def root(self, start: int, end: int) -> int:
        """The root token of the tokens ``start`` to ``end`` (``Span.root``)."""
        return int(self.doc[start:end].root.i)


def sentence_bounds(doc: Any) -> list[tuple[int, int]]:
    """Character offsets of every sentence of a spaCy doc or a ``ParsedDoc``."""
    if isinstance(doc, ParsedDoc):
        return [(doc.idx[start], doc.end_char(end - 1)) for start, end in doc.sents]
    return [(sent.start_char, sent.end_char) for sent in doc.sents]


def sentence_at(bounds: list[tuple[int, int]], start: int, length: int) -> tuple[int, int]:
    """The sentence of ``bounds`` that holds character ``start`` (the whole text of ``length`` if none does)."""
    i = bisect.bisect_right(bounds, (start, length + 1)) - 1
    if i >= 0 and bounds[i][0] <= start < bounds[i][1]:
        return bounds[i]
    return 0, length
