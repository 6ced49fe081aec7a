"""Table values carry a schema_version: old values are migrated, newer ones refused with a DecodeError, never a crash."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
import pytest

from schemas import FeedSource
from streams.errors import DecodeError
from streams.kafka.tablevalue import TableValue
from streams.poll.state import FeedState


class Counted(TableValue):
    """Version 2 renamed ``n`` to ``count``."""

    VERSION: ClassVar[int] = 2
    count: int = 0

    @classmethod
    def migrate(cls, obj: dict[str, Any], version: int) -> dict[str, Any]:
        assert version == 1
        return {**{k: v for k, v in obj.items() if k != "n"}, "count": obj.get("n", 0)}


def test_values_round_trip_with_their_version() -> None:
    state = FeedState(source=FeedSource(id="f", url="http://x/feed"), partition=3, etag='"e"')
    raw = state.dumps()
    assert orjson.loads(raw)["schema_version"] == 1
    assert FeedState.loads(raw) == state


def test_a_value_written_before_versioning_reads_as_version_1() -> None:
    legacy = orjson.dumps({"source": {"id": "f", "url": "http://x/feed"}, "partition": 0, "next_check": 12.5})
    assert FeedState.loads(legacy).next_check == 12.5


def test_an_older_version_is_migrated() -> None:
    assert Counted.loads(orjson.dumps({"n": 7})).count == 7
    assert Counted.loads(orjson.dumps({"schema_version": 2, "count": 3})).count == 3
    assert orjson.loads(Counted(count=4).dumps()) == {"schema_version": 2, "count": 4}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"schema_version": 3, "count": 1}', "unsupported schema_version 3"),
        (b'{"schema_version": "2"}', "unsupported schema_version '2'"),
        (b"[1, 2]", "expected a JSON object"),
        (b"\xff not json", "invalid JSON"),
        (b'{"schema_version": 2, "count": "many"}', "count"),
    ],
    ids=["newer", "not-an-int", "not-an-object", "not-json", "wrong-type"],
)
def test_what_cannot_be_read_is_a_decode_error(raw: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        Counted.loads(raw)
