"""The size policy: limits from one setting, articles cut to their share, dead letters by reference, bounded records."""

from __future__ import annotations

import base64
import hashlib

import pytest

from schemas import DeadLetter, EnrichedArticle, Event, MentionSpan, decode, encode
from streams.config import Settings
from streams.enrich.bounds import MAX_MENTIONS_PER_ENTITY, SENTENCE_MAX_CHARS, capped, fit_enriched
from streams.enrich.step import chunks, sentence_window
from streams.errors import MessageTooLarge
from streams.kafka.deadletter import dead_letter, inline_fits
from streams.kafka.health import Health
from streams.kafka.sizes import FRAMING_BYTES, limits, topic_configs, truncate_article
from streams.text import cut
from tests.factories import article, enriched, entity

M = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("one two three", 9, "one two"),
        ("one two three", 7, "one two"),  # the break falls right at the limit
        ("abcdefghijkl", 5, "abcde"),  # no break near the end: cut mid-word rather than lose more
        ("word " * 3, 0, ""),
        ("one two\nthree four", 12, "one two"),
    ],
    ids=["under", "at-a-word", "break-at-limit", "no-break", "zero", "newline"],
)
def test_cut_ends_at_a_word(text: str, limit: int, expected: str) -> None:
    assert cut(text, limit) == expected


def test_every_limit_follows_from_the_one_setting() -> None:
    sizes = limits(Settings(max_message_bytes=M, consumer_fetch_bytes=256 * 1024))
    assert sizes.message == M
    assert sizes.producer_request == sizes.topic == M + FRAMING_BYTES  # what the producer may send, the topic accepts
    assert sizes.partition_fetch >= sizes.topic  # and a consumer can fetch it whole
    assert sizes.producer_batch <= sizes.message
    assert sizes.article == int(M * 0.4)
    big = limits(Settings(max_message_bytes=8 * M))
    assert big.partition_fetch == big.topic == 8 * M + FRAMING_BYTES
    assert topic_configs(Settings(max_message_bytes=M), compacted=True) == {
        "max.message.bytes": str(M + FRAMING_BYTES),
        "cleanup.policy": "compact",
    }


def test_an_article_within_the_policy_is_left_alone() -> None:
    item = article("a", "A short text.")
    assert truncate_article(item, 100_000, 400_000) is item
    assert not item.truncated


def test_a_long_article_is_cut_at_a_word_and_marked() -> None:
    text = "Ana Lima spoke. " * 70_000  # 1.1 million characters
    item = article("a", text, summary=text, title="T" * 5_000, authors=[f"Author {i}" for i in range(50)], content_hash="h")
    out = truncate_article(item, 100_000, int(M * 0.4))
    assert out.truncated
    assert len(out.text) <= 100_000 and text.startswith(out.text) and out.text.endswith("spoke.")
    assert len(out.summary) <= 10_000 and len(out.title) <= 1_000 and len(out.authors) == 20
    assert out.content_hash == "h"  # the hash of the whole item: a revision is still a revision
    assert len(encode(out)) <= int(M * 0.4)


def test_wide_characters_are_cut_to_the_byte_share() -> None:
    text = "\U0001f4f0 " * 60_000  # four bytes a character: 100,000 characters would be 300 KB
    out = truncate_article(article("a", text), 100_000, 100_000)
    assert out.truncated and len(encode(out)) <= 100_000 and text.startswith(out.text)
    assert len(out.text) > 30_000  # cut to what fits, not to nothing


def test_an_article_that_cannot_fit_is_refused_by_size() -> None:
    item = article("a", "text", url="http://x/" + "u" * 300_000)
    with pytest.raises(MessageTooLarge, match="without text or summary") as caught:
        truncate_article(item, 100_000, 100_000)
    assert caught.value.size > 100_000


class _Message:
    def __init__(self, value: bytes, key: bytes = b"k") -> None:
        self.key, self.value, self.topic, self.partition, self.offset = key, value, "t.articles", 3, 42


def test_a_small_value_rides_inside_its_dead_letter() -> None:
    record = dead_letter(_Message(b"{not json"), "enrich", "Article: invalid JSON", M)
    assert not record.value_omitted and base64.b64decode(record.value_b64) == b"{not json"
    assert record.size == 9 and record.sha256 == hashlib.sha256(b"{not json").hexdigest()


def test_a_ten_megabyte_value_is_dead_lettered_by_reference() -> None:
    value = b"{" + b" " * (10 * M) + b"}"
    record = dead_letter(_Message(value, key=b"k" * 5000), "enrich", "Article: value of 10485762 bytes exceeds 4194304", M)
    assert record.value_omitted and record.value_b64 == ""
    assert record.size == len(value) and record.sha256 == hashlib.sha256(value).hexdigest()
    assert (record.topic, record.partition, record.offset, record.agent) == ("t.articles", 3, 42, "enrich")
    assert record.key is not None and len(record.key) == 1000
    data = encode(record)
    assert len(data) < 4096
    assert decode(DeadLetter, data) == record


def test_inline_fits_counts_base64_and_the_envelope() -> None:
    assert inline_fits(3 * 1000, 4 * 1000 + 16 * 1024)
    assert not inline_fits(3 * 1000 + 1, 4 * 1000 + 16 * 1024)


def _crowded(entities: int, mentions: int, watched: int | None = None) -> EnrichedArticle:
    """An enriched article with ``entities`` entities of ``mentions`` mentions each (entity ``watched`` watched)."""
    spans = [MentionSpan(start=i * 10, end=i * 10 + 8, text="Name one") for i in range(mentions)]
    items = [entity(f"Name {i}", mentions=spans[: mentions - i % 7], watch_ids=["r"] if i == watched else []) for i in range(entities)]
    events = [
        Event(id=f"e{i}", article_id="a", type="ASSAULT", sentence="x" * 3000, start=i, end=i + 3000, confidence=0.5) for i in range(300)
    ]
    return enriched(article("a", "word " * 20_000), *items, events=events)


def test_caps_keep_the_first_mentions_and_count_the_rest() -> None:
    item = capped(_crowded(3, 250))
    assert all(len(e.mentions) == MAX_MENTIONS_PER_ENTITY for e in item.entities)
    assert [e.mentions_cut for e in item.entities] == [150, 149, 148]
    assert all(len(event.sentence) == SENTENCE_MAX_CHARS and event.end - event.start == SENTENCE_MAX_CHARS for event in item.events)


def test_an_enriched_record_is_bounded_to_the_limit_and_counts_what_it_left_out() -> None:
    item = _crowded(3_000, 200, watched=2_999)
    assert len(encode(item)) > 20 * M  # the input: far over any message limit
    fitted, data = fit_enriched(item, M)
    assert len(data) <= M and data == encode(fitted)
    assert fitted.article == item.article  # the article itself is never cut here
    assert len(fitted.entities) + fitted.entities_cut == 3_000
    assert len(fitted.events) + fitted.events_cut == 300
    assert any(e.watch_ids for e in fitted.entities)  # a watched entity is the last to go
    kept = [e.name for e in fitted.entities]
    assert kept == [e.name for e in item.entities if e.name in set(kept)]  # in text order


def test_a_record_within_the_limit_is_sent_as_it_is() -> None:
    item = enriched(article("a", "Ana Lima spoke."), entity())
    fitted, data = fit_enriched(item, M)
    assert fitted is item and data == encode(item)


def test_a_record_whose_article_alone_is_over_is_refused() -> None:
    with pytest.raises(MessageTooLarge):
        fit_enriched(enriched(article("a", "w" * 5000)), 1000)


@pytest.mark.parametrize("size", [7, 50, 333], ids=["tiny", "small", "medium"])
def test_chunks_join_back_to_the_text(size: int) -> None:
    text = ("Ana Lima spoke in Lisbon. " * 12 + "\n\n") * 9 + "tail" * 40
    pieces = chunks(text, size)
    assert "".join(pieces) == text
    assert all(0 < len(piece) <= size for piece in pieces[:-1]) and len(pieces[-1]) <= size


def test_chunks_end_at_paragraphs_where_they_can() -> None:
    text = ("x" * 60 + "\n\n") * 10
    assert all(piece.endswith("\n\n") for piece in chunks(text, 100))
    assert chunks("", 100) == [""]


def test_a_long_sentence_is_cut_around_the_mention() -> None:
    assert sentence_window((0, 500), 10, 20, 1000) == (0, 500)
    start, end = sentence_window((100, 50_100), 30_000, 30_010, 1000)
    assert end - start == 1000 and start <= 30_000 and 30_010 <= end
    assert sentence_window((0, 5000), 4990, 5000, 1000) == (4000, 5000)  # at the end: the window ends with the sentence


def test_held_messages_make_a_process_unhealthy() -> None:
    health = Health(stuck_after=60)
    assert health.stuck() == []
    health.hold("enrich", "the dead letter of t.articles[0]@5 was not written")
    assert health.stuck() == ["held:enrich"]
