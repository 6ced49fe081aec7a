"""Generate the checked-in JSON Schemas of every topic value into ``schemas/json/``."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from schemas.records import (
    SCHEMA_VERSION,
    Alert,
    AlertAck,
    Article,
    DeadLetter,
    Delivered,
    DestinationState,
    Digest,
    DigestItem,
    EnrichedArticle,
    EntityRecord,
    Event,
    FeedSource,
    Mention,
    Record,
    Story,
    StoryKeyBatch,
    StoryUpdate,
    StoryWork,
    WatchRule,
)

OUT = Path(__file__).resolve().parent / "json"

#: topic suffix → the record type of its values
TOPIC_RECORDS: dict[str, type[Record]] = {
    "feeds": FeedSource,
    "rules": WatchRule,
    "articles": Article,
    "storywork": StoryWork,
    "storykeys": StoryKeyBatch,
    "enriched": EnrichedArticle,
    "storyupdates": StoryUpdate,
    "stories": Story,
    "mentions": Mention,
    "events": Event,
    "alerts": Alert,
    "deadletter": DeadLetter,
    "digests": DigestItem,
    "destinations": DestinationState,
    "eventgroups": Event,
    "entities": EntityRecord,
    "acks": AlertAck,
    "delivered": Delivered,
}

#: payloads sent to receivers that are not topic values (a digest webhook's body)
PAYLOADS: tuple[type[Record], ...] = (Digest,)


def schema_files() -> dict[str, bytes]:
    """File name → JSON Schema bytes, one per record type."""
    files = {}
    for model in (*TOPIC_RECORDS.values(), *PAYLOADS):
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"wirewatch/{model.__name__}.v{SCHEMA_VERSION}.json"
        body = orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        files[f"{model.__name__}.v{SCHEMA_VERSION}.json"] = body
    return files


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, body in schema_files().items():
        (OUT / name).write_bytes(body)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
