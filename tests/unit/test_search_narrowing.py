"""The SQL narrowing of `wirewatch search`: what the full-text index is asked, derived from the rules' query tree."""

from __future__ import annotations

import pytest

from streams.alert.query import parse_query
from streams.cli.data import bold
from streams.deliver.digests import PendingDigest, sendable_now
from streams.store.search import _spellings, fts5_match, pg_tsquery

CASES = [
    ("mosul", '"mosul"', "('mosul':*)"),
    ("Mosul dam", '("mosul" AND "dam")', "(('mosul':*) & ('dam':*))"),
    ('"Mosul Dam" OR Tehran', '("mosul dam" OR "tehran")', "(('mosul':*) & ('dam':*) | ('tehran':*))"),
    ("title:mosul -cup", '(title : "mosul")', "(('mosul':*))"),
    ("econom*", '"econom"*', "('econom':*)"),
    ("mosul OR source:bbc.co.uk", None, None),  # a branch the index cannot see: no narrowing
    ("mosul AND source:bbc.co.uk", '("mosul")', "(('mosul':*))"),
    ("entity:mosul", None, None),
    ("russia", '("russia" OR "rußia")', "('russia':* | 'rußia':*)"),
]


@pytest.mark.parametrize(("query", "fts5", "tsquery"), CASES, ids=[case[0] for case in CASES])
def test_narrowing_expressions(query: str, fts5: str | None, tsquery: str | None) -> None:
    node = parse_query(query)
    assert fts5_match(node) == fts5
    assert pg_tsquery(node) == tsquery


def test_spellings_of_folded_words() -> None:
    assert _spellings("strasse") == ["strasse", "straße"]
    assert _spellings("mississippi") == ["mississippi", "missißippi", "mißissippi", "mißißippi"]
    assert _spellings("ssassass") is None  # three: no narrowing rather than eight spellings
    assert _spellings("σοφία") is None and _spellings("_") is None and _spellings("velmar") == ["velmar"]


def test_bold_marks_spans_and_escapes_the_rest() -> None:
    assert bold("Mosul [red] rises", [(0, 5), (6, 11)]) == "[bold]Mosul[/bold] [bold]\\[red][/bold] rises"
    assert bold("abc", [(0, 2), (1, 3), (2, 9)]) == "[bold]ab[/bold]c"  # overlapping or outside: plain


def test_an_early_send_needs_an_unsent_digest_with_alerts() -> None:
    from datetime import UTC, datetime

    start = datetime(2026, 12, 1, tzinfo=UTC)
    assert sendable_now(PendingDigest(destination="mailto:a@example.org", period="daily", start=start, count=2))
    assert not sendable_now(PendingDigest(destination="mailto:a@example.org", period="daily", start=start, count=0))
    assert not sendable_now(PendingDigest(destination="mailto:a@example.org", period="daily", start=start, count=2, sent=True))


def test_words_fold_as_word_by_word_folding_would() -> None:
    """The folded-slice fast path of Words and the word-by-word path give the same words at the same offsets."""
    import re

    from streams.alert.query import Words

    for text in ("Mosul DAM, Ǆemal and ΣΊΣΥΦΟΣ", "Die Straße nach Mosul", "İstanbul ﬁnal ὒ", "a_b c-d 3.5"):
        words = Words(text)
        expected = [(m.group(0).casefold(), m.start(), m.end()) for m in re.finditer(r"\w+", text)]
        assert [(word, start, end) for word, (start, end) in zip(words.words, words.spans, strict=True)] == expected, text
