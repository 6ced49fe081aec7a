"""The entity registry's in-memory index: the active entities by every name they go by, bounded, with the cold ones
left on the compacted topic ``wirewatch.entities``; records in and out, and the JSON-lines file of ``extract``."""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from schemas import DecodeError, EntityRecord, decode, encode
from streams.config import Settings
from streams.enrich.names import particle_free
from streams.enrich.normal import acronym_of, name_key, people_stem

log = logging.getLogger(__name__)

#: names kept per entity (the most frequent): a few dozen spellings cover a real entity; more are noise
MAX_VARIANTS = 50
#: roles kept per entity
MAX_ROLES = 10
#: stories remembered per entity (the latest)
MAX_STORIES = 20


@dataclass
class Entry:
    """One registry entity as the index holds it."""

    id: str
    name: str
    type: str
    first_seen: datetime
    last_seen: datetime
    types: Counter[str] = field(default_factory=Counter)
    variants: Counter[str] = field(default_factory=Counter)
    roles: Counter[str] = field(default_factory=Counter)
    blocked: set[str] = field(default_factory=set)
    stories: list[str] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)
    mentions: int = 0
    wikidata: str | None = None
    geonames: int | None = None
    lat: float | None = None
    lon: float | None = None
    merged_into: str | None = None
    origin: str = "registry"
    #: the index keys it is filed under: (kind, key), kind "name" for its names, "short" for its surname and acronym
    keys: set[tuple[str, str]] = field(default_factory=set)

    @property
    def full(self) -> bool:
        """A full name (two words or more): what a surname or an acronym may resolve to."""
        return len(self.name.split()) > 1

    def record(self) -> EntityRecord:
        """The entry as a record of the topic or the file (every shared field, through :data:`TO_RECORD`)."""
        return EntityRecord(**{name: TO_RECORD.get(name, _as_is)(getattr(self, name)) for name in SHARED_FIELDS})


#: the fields an entry and its record share: every field of the record but its schema version. Both directions
#: below go by this one list, so a field added to the record is carried both ways, or fails loudly if Entry lacks it.
SHARED_FIELDS = tuple(name for name in EntityRecord.model_fields if name != "schema_version")
#: how a record's field becomes the entry's where it differs: counters to count in, a set to test in, fresh lists
TO_ENTRY: dict[str, Callable[[Any], Any]] = {
    "types": Counter,
    "variants": Counter,
    "roles": Counter,
    "blocked": set,
    "stories": list,
    "recent": list,
}
#: and back: counters as dicts, the most frequent first (variants and roles bounded), the blocked names sorted
TO_RECORD: dict[str, Callable[[Any], Any]] = {
    "types": lambda counts: dict(counts.most_common()),
    "variants": lambda counts: dict(counts.most_common(MAX_VARIANTS)),
    "roles": lambda counts: dict(counts.most_common(MAX_ROLES)),
    "blocked": sorted,
    "stories": list,
    "recent": list,
}


def _as_is(value: Any) -> Any:
    return value


def entry_of(record: EntityRecord) -> Entry:
    """An index entry from a record of the topic or the file."""
    return Entry(**{name: TO_ENTRY.get(name, _as_is)(getattr(record, name)) for name in SHARED_FIELDS})


def surname_key(name: str) -> str:
    """The key of a person's last name without particles ("Nouri al-Maliki" → "maliki")."""
    tokens = name.split()
    return name_key(particle_free(tokens[-1])) if len(tokens) > 1 else ""


class Registry:
    """The active entities, at most ``max_active`` of them (least recently seen leave first), by every name.

    ``changed`` collects the ids whose entry changed since :meth:`drain` last ran (what a writer publishes).
    Entries merged into another stay as aliases: looking one up gives the entity it was merged into.
    """

    def __init__(self, max_active: int = 50_000, active_days: float = 30.0) -> None:
        self.max_active = max_active
        self.window = timedelta(days=active_days)
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.index: dict[tuple[str, str], set[str]] = {}
        self.changed: set[str] = set()
        self.evicted = 0
        #: records offered by another thread (the topic's follower), applied by :meth:`absorb` on the owner's thread
        self.inbox: deque[tuple[str, EntityRecord | None]] = deque()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entity_id: str) -> Entry | None:
        """The entry of ``entity_id``, following one alias record to the entity it was merged into."""
        entry = self.entries.get(entity_id)
        if entry is not None and entry.merged_into:
            return self.entries.get(entry.merged_into, entry)
        return entry

    def active(self, entry: Entry, when: datetime) -> bool:
        """Seen within the activity window before ``when`` (an article's time: replays resolve as the stream did)."""
        return entry.last_seen >= when - self.window and not entry.merged_into

    def lookup(self, kind: str, key: str) -> list[Entry]:
        """Entries filed under ``key`` (aliases followed, each once, in id order: deterministic)."""
        found: dict[str, Entry] = {}
        for entity_id in sorted(self.index.get((kind, key), ())):
            entry = self.get(entity_id)
            if entry is not None and key not in {name_key(b) for b in entry.blocked}:
                found.setdefault(entry.id, entry)
        return list(found.values())

    def observe(self, entity_id: str, name: str, entity_type: str, names: Iterable[str], when: datetime, *,
                wikidata: str | None = None, geonames: int | None = None, lat: float | None = None,
                lon: float | None = None, roles: Iterable[str] = (), story: str | None = None,
                origin: str = "registry", mention_id: str | None = None) -> Entry | None:  # fmt: skip
        """Count one article's mention of an entity: its names, type and time; the entry is created if new.

        A ``mention_id`` among the entry's latest counted ones is a replay: nothing is counted (None is returned).
        """
        entry = self.entries.get(entity_id)
        if entry is None:
            entry = self.entries[entity_id] = Entry(entity_id, name, entity_type, when, when, origin=origin)
        elif entry.merged_into and entry.merged_into in self.entries:
            entry = self.entries[entry.merged_into]
        self.entries.move_to_end(entry.id)
        if mention_id is not None:
            if mention_id in entry.recent:
                return None
            entry.recent = [*entry.recent, mention_id][-MAX_STORIES:]
        entry.origin = "watch" if origin == "watch" or entry.origin == "watch" else "registry"
        entry.mentions += 1
        entry.types[entity_type] += 1
        # the index keys follow from the name, the type and the set of variants: filed again only when one changed
        # (most mentions of a known entity repeat its names; recomputing its keys was most of this method)
        filed = (entry.name, entry.type)
        refile = not entry.keys
        entry.type = entry.types.most_common(1)[0][0] if origin != "watch" or not entity_type else entity_type
        for variant in dict.fromkeys(names):
            if variant and variant not in entry.blocked and len(variant) <= 200:
                refile = refile or variant not in entry.variants
                entry.variants[variant] += 1
        if len(entry.variants) > MAX_VARIANTS * 2:
            entry.variants = Counter(dict(entry.variants.most_common(MAX_VARIANTS)))
            refile = True
        if entry.name.isupper() and not name.isupper() and name_key(name) == name_key(entry.name):
            entry.name = name  # "CARL ICAHN" in a headline, "Carl Icahn" in text: the text spells it
        entry.roles.update(roles)
        if story and story not in entry.stories:
            entry.stories = [*entry.stories, story][-MAX_STORIES:]
        entry.first_seen = min(entry.first_seen, when)
        entry.last_seen = max(entry.last_seen, when)
        for attr, value in (("wikidata", wikidata), ("geonames", geonames), ("lat", lat), ("lon", lon)):
            if value is not None and getattr(entry, attr) is None:
                setattr(entry, attr, value)
        if refile or (entry.name, entry.type) != filed:
            self._file(entry)
        self.changed.add(entry.id)
        self._evict()
        return entry

    def put(self, record: EntityRecord) -> None:
        """Take a record of the topic (or the file) as the entry's state: the registry writer's word is final."""
        old = self.entries.pop(record.id, None)
        entry = entry_of(record)
        if old is not None and _same_names(old, entry):
            entry.keys = old.keys  # the usual record: counts moved, names did not; the index already files it so
        else:
            if old is not None:
                self._unfile(old)
            self._file(entry)
        self.entries[entry.id] = entry
        self._evict()

    def offer(self, key: str, record: EntityRecord | None) -> None:
        """Queue a record (None: a tombstone) from another thread; past ``max_active`` queued ones it is dropped and
        counted (the entity's next record brings it back), so a stalled owner never grows the queue without bound."""
        if len(self.inbox) >= self.max_active:
            self.dropped += 1
            return
        self.inbox.append((key, record))

    def absorb(self) -> int:
        """Apply the queued records, on the thread that resolves against this registry; how many were applied."""
        count = 0
        while self.inbox:
            key, record = self.inbox.popleft()
            if record is None:
                self.remove(key)
            else:
                self.put(record)
            count += 1
        return count

    def remove(self, entity_id: str) -> None:
        """Forget an entry (a tombstone on the topic)."""
        entry = self.entries.pop(entity_id, None)
        if entry is not None:
            self._unfile(entry)

    def drain(self) -> list[EntityRecord]:
        """Records of the entries changed since the last call, in id order."""
        out = [self.entries[i].record() for i in sorted(self.changed) if i in self.entries]
        self.changed.clear()
        return out

    def records(self) -> Iterator[EntityRecord]:
        for entry in self.entries.values():
            yield entry.record()

    def _keys(self, entry: Entry) -> set[tuple[str, str]]:
        names = {entry.name, *entry.variants} - entry.blocked
        org = entry.type == "ORG"
        keys = {("name", key) for name in names if (key := name_key(name, org))}
        if entry.type == "PERSON" and (surname := surname_key(entry.name)):
            keys.add(("short", surname))
        if entry.type == "NORP" and (stem := people_stem(name_key(entry.name))):
            keys.add(("people", stem))
        if entry.type != "PERSON" and (letters := acronym_of(name_key(entry.name, org))) and len(letters) >= 2:
            keys.add(("short", letters))
        return keys

    def _file(self, entry: Entry) -> None:
        keys = self._keys(entry)
        for key in entry.keys - keys:
            self._drop(key, entry.id)
        for key in keys - entry.keys:
            self.index.setdefault(key, set()).add(entry.id)
        entry.keys = keys

    def _unfile(self, entry: Entry) -> None:
        for key in entry.keys:
            self._drop(key, entry.id)
        entry.keys = set()

    def _drop(self, key: tuple[str, str], entity_id: str) -> None:
        owners = self.index.get(key)
        if owners is not None:
            owners.discard(entity_id)
            if not owners:
                del self.index[key]

    def _evict(self) -> None:
        """The least recently seen entries leave the index past ``max_active``: they stay on the topic, cold."""
        while len(self.entries) > self.max_active:
            _, entry = self.entries.popitem(last=False)
            self._unfile(entry)
            self.changed.discard(entry.id)
            self.evicted += 1


def _same_names(one: Entry, other: Entry) -> bool:
    """Whether two states of an entry are filed under the same index keys (see ``Registry._keys``)."""
    same_kind = one.name == other.name and one.type == other.type
    return same_kind and one.blocked == other.blocked and one.variants.keys() == other.variants.keys()


def registry_of(settings: Settings) -> Registry:
    """A registry sized by the settings."""
    return Registry(settings.registry_active_max, settings.registry_active_days)


def watched_record(entity_id: str, name: str, aliases: list[str], entity_type: str | None, wikidata: str | None,
                   when: datetime) -> EntityRecord:  # fmt: skip
    """The registry record a watch rule's entity starts with (the watch's id, name and aliases)."""
    variants = {n: 0 for n in dict.fromkeys([name, *aliases]) if n}
    kind = entity_type or "PERSON"
    return EntityRecord(id=entity_id, name=name, type=kind, types={kind: 0}, variants=variants, first_seen=when,
                        last_seen=when, wikidata=wikidata, origin="watch")  # fmt: skip


def load_registry(path: Path, registry: Registry) -> int:
    """Read a registry file (JSON lines of EntityRecord) into ``registry``; a bad line is skipped with a log line."""
    count = 0
    with path.open("rb") as source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                registry.put(decode(EntityRecord, line.strip()))
                count += 1
            except DecodeError as exc:
                log.warning("registry %s: line %d skipped: %s", path, number, exc)
    return count


def save_registry(path: Path, registry: Registry) -> int:
    """Write every entry of ``registry`` to ``path`` as JSON lines (through a temporary file: never half written)."""
    temporary = path.with_name(path.name + ".tmp")
    count = 0
    with temporary.open("wb") as sink:
        for record in registry.records():
            sink.write(encode(record) + b"\n")
            count += 1
    temporary.replace(path)
    return count
