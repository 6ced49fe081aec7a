"""The size policy: every Kafka size limit derived from WIREWATCH_MAX_MESSAGE_BYTES, and articles cut to their share.

One number, ``M`` (``max_message_bytes``), bounds the key and value of every message a Wirewatch process sends.
From it follow the producer's ``max_request_size`` and every topic's ``max.message.bytes`` (``M`` plus the
record and batch framing), and the consumers' per-partition fetch size (at least the topic limit), so whatever
one stage may send, the next can fetch. An article keeps :data:`ARTICLE_SHARE` of ``M`` at most, leaving the rest
of the enriched record (which embeds the article) for its entities and events (streams/enrich/bounds.py).
docs/operators.md ("Message sizes") states the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from schemas import Article, encode
from streams.config import Settings
from streams.errors import MessageTooLarge
from streams.text import cut

#: bytes a record and the batch holding it add to key and value on the wire: aiokafka's own estimate for a
#: one-record batch is 61 bytes of batch header plus at most 21 of record framing (no headers are sent)
FRAMING_BYTES = 1024

#: the part of the message limit an article may fill; the enriched record embeds it beside entities and events
ARTICLE_SHARE = 0.4

#: the largest batch the producer collects: aiokafka's 16 KiB default held one or two enriched articles, so every
#: further send to that partition waited for a produce round trip; never above the message limit
PRODUCER_BATCH_BYTES = 512 * 1024

#: caps of the article fields besides its text: a summary longer than this is a body, a title longer is debris
SUMMARY_MAX_CHARS = 10_000
TITLE_MAX_CHARS = 1_000
AUTHORS_MAX = 20
AUTHOR_MAX_CHARS = 200


@dataclass(frozen=True)
class MessageLimits:
    """The byte limits that follow from ``max_message_bytes``."""

    #: key plus value of any message a Wirewatch process sends
    message: int
    #: the producer's ``max_request_size``: one message with its framing
    producer_request: int
    #: ``max.message.bytes`` of every topic Wirewatch creates (a record batch: one message and framing, or
    #: several smaller ones up to the producer's batch size)
    topic: int
    #: the consumers' ``max_partition_fetch_bytes``: at least one whole batch of the largest size a topic accepts
    partition_fetch: int
    #: the producer's ``max_batch_size``
    producer_batch: int
    #: an encoded article (Article record) at most
    article: int

    def fits(self, key: str | bytes | None, value: bytes) -> bool:
        """Whether a message with this key and value is within the limit."""
        return key_bytes(key) + len(value) <= self.message


def limits(settings: Settings) -> MessageLimits:
    """The limits of these settings."""
    message = settings.max_message_bytes
    with_framing = message + FRAMING_BYTES
    return MessageLimits(
        message=message,
        producer_request=with_framing,
        topic=with_framing,
        partition_fetch=max(settings.consumer_fetch_bytes, with_framing),
        producer_batch=min(PRODUCER_BATCH_BYTES, message),
        article=int(message * ARTICLE_SHARE),
    )


def key_bytes(key: str | bytes | None) -> int:
    if key is None:
        return 0
    return len(key) if isinstance(key, bytes) else len(key.encode("utf-8", "surrogatepass"))


def producer_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of a plain ``AIOKafkaProducer`` that sends within the policy."""
    bounds = limits(settings)
    return {"max_request_size": bounds.producer_request, "max_batch_size": bounds.producer_batch}


def consumer_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of a plain ``AIOKafkaConsumer`` that can fetch any message a topic accepts."""
    bounds = limits(settings)
    return {"max_partition_fetch_bytes": bounds.partition_fetch, "fetch_max_bytes": max(52_428_800, bounds.partition_fetch)}


def topic_configs(settings: Settings, compacted: bool) -> dict[str, str]:
    """The configuration every Wirewatch topic is created with."""
    configs = {"max.message.bytes": str(limits(settings).topic)}
    if compacted:
        configs["cleanup.policy"] = "compact"
    return configs


def truncate_article(article: Article, max_chars: int, max_bytes: int) -> Article:
    """``article`` within the size policy: text at most ``max_chars`` characters, title, summary and authors within
    their caps, and the encoded record at most ``max_bytes``; marked ``truncated`` when anything was cut.

    Characters are capped first (what a reader notices), bytes then (a text of four-byte characters, or quotes JSON
    escapes, is cut further, text before summary). Raises :class:`MessageTooLarge` when even empty text and summary
    leave the record over ``max_bytes`` (URLs or a GUID of that size).
    """
    capped = {
        "text": cut(article.text, max_chars),
        "summary": cut(article.summary, min(SUMMARY_MAX_CHARS, max_chars)),
        "title": cut(article.title, TITLE_MAX_CHARS),
        "authors": [cut(author, AUTHOR_MAX_CHARS) for author in article.authors[:AUTHORS_MAX]],
    }
    changed = {name: value for name, value in capped.items() if value != getattr(article, name)}
    if changed:
        article = article.model_copy(update=changed | {"truncated": True})
    size = len(encode(article))
    for field in ("text", "summary"):
        while size > max_bytes and getattr(article, field):
            value: str = getattr(article, field)
            value_bytes = len(encode_text(value))
            # what the field may still take; the shortfall is in bytes, the cut in characters, so the ratio guesses and
            # the loop checks (one or two rounds for real text; each round shortens the field)
            room = max(0, value_bytes - (size - max_bytes))
            keep = min(len(value) - 1, int(len(value) * room / value_bytes * 0.98))
            article = article.model_copy(update={field: cut(value, max(0, keep)), "truncated": True})
            size = len(encode(article))
    if size > max_bytes:
        raise MessageTooLarge(f"article {article.id[:80]}: {size} bytes without text or summary, over the {max_bytes}-byte share", size)
    return article


def encode_text(value: str) -> bytes:
    """``value`` as it appears inside a JSON document (quoted and escaped)."""
    return orjson.dumps(value)
