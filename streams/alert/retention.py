"""Which event groups a worker keeps: none unreported for the retention time, and per partition no more than a memory budget.

The event-group table is keyed by input (PLOVER type, place and day, the place taken from feed text), so without a
bound a feed naming new places grows it without end. :class:`Retention` tracks every group of the partitions a worker
owns, least recently reported first, and says which to drop: those beyond the partition's share of the budget at
once, those unreported for the retention time on each check. A dropped group is gone from the table and its changelog;
a later report of its event is a new event (a new alert), as it would be on another day.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import orjson

#: bytes a table entry costs beyond its key's and value's bytes: the dict slot, the key's and value's object headers and
#: this index's entry. tests/unit/test_event_retention.py measured about 295 with CPython 3.11 (tracemalloc); 400 leaves room.
ENTRY_OVERHEAD = 400


def footprint(key: str, size: int) -> int:
    """The bytes a table entry with a value of ``size`` bytes is counted as."""
    return len(key) + size + ENTRY_OVERHEAD


def touched_at(value: bytes, default: float) -> float:
    """When a stored group was last reported (``touched``); ``default`` for values written before groups carried it."""
    try:
        touched = orjson.loads(value).get("touched")
    except (orjson.JSONDecodeError, AttributeError):
        return default
    return float(touched) if isinstance(touched, int | float) and not isinstance(touched, bool) and touched > 0 else default


class Retention:
    """The groups of each owned partition in the order they were last reported, with their counted bytes.

    Pure bookkeeping: the caller writes and deletes the table entries; this says which. ``budget`` is bytes per
    partition (the worker's budget over the topic's partitions), ``max_age`` seconds since a group's last report.
    """

    def __init__(self, budget: int, max_age: float) -> None:
        self.budget = budget
        self.max_age = max_age
        self._groups: dict[int, OrderedDict[str, tuple[float, int]]] = {}
        self._bytes: dict[int, int] = {}

    def __len__(self) -> int:
        return sum(len(groups) for groups in self._groups.values())

    @property
    def bytes(self) -> int:
        """Bytes counted over every partition."""
        return sum(self._bytes.values())

    def touch(self, partition: int, key: str, when: float, size: int) -> list[str]:
        """Record that ``key`` was written now with ``size`` bytes; the keys of its partition to drop, oldest first."""
        groups = self._groups.setdefault(partition, OrderedDict())
        old = groups.pop(key, None)
        cost = footprint(key, size)
        self._bytes[partition] = self._bytes.get(partition, 0) - (old[1] if old else 0) + cost
        groups[key] = (when, cost)
        dropped: list[str] = []
        while self._bytes[partition] > self.budget and len(groups) > 1:
            oldest, (_, oldest_cost) = groups.popitem(last=False)
            self._bytes[partition] -= oldest_cost
            dropped.append(oldest)
        return dropped

    def expired(self, now: float) -> list[tuple[int, str]]:
        """The ``(partition, key)`` of every group not reported for ``max_age`` seconds, forgotten here."""
        out: list[tuple[int, str]] = []
        for partition, groups in self._groups.items():
            while groups:
                key, (when, cost) = next(iter(groups.items()))
                if when > now - self.max_age:
                    break
                del groups[key]
                self._bytes[partition] -= cost
                out.append((partition, key))
        return out

    def rebuild(self, entries: Iterable[tuple[int, str, float, int]]) -> list[tuple[int, str]]:
        """Start again from a table's ``(partition, key, touched, size)`` entries (after a restore or a rebalance);
        the ``(partition, key)`` to drop to be within the budget."""
        self._groups.clear()
        self._bytes.clear()
        dropped: list[tuple[int, str]] = []
        for partition, key, when, size in sorted(entries, key=lambda entry: entry[2]):
            dropped += [(partition, old) for old in self.touch(partition, key, when, size)]
        return dropped
