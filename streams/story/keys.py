"""One candidate key's recent stories (a value of the story-keys table): which stories carry the key, and how much.

Per story the key keeps the summed weight of that story's articles carrying it (the story centroid's component at
this key) and the story's latest snapshot (size, centroid norm, last article). A probe is answered from them, then the
probing article is held as a pending entry of the story it would open, so an article still in flight is visible to
the next ones; its registration, once its story is decided, replaces it. Stories whose last article here is older
than the window (behind the newest at this key) are dropped on every write and by the sweep; at most
:data:`MAX_STORIES` are kept, the most recent, so a key as common as ``US`` cannot grow without bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from schemas import StoryCandidate, StoryKeyAnswer
from streams.kafka.tablevalue import TableValue

#: stories one key keeps at most (the most recently active)
MAX_STORIES = 64
#: candidate stories one answer carries at most (the heaviest at this key)
MAX_CANDIDATES = 24
#: article ids remembered per key, so a registration delivered twice is counted once
RECENT_ARTICLES = 64


class Snapshot(BaseModel):
    """A story as it was when it last registered an article: size, centroid norm, last article's time."""

    model_config = ConfigDict(frozen=True)

    size: int = 1
    norm: float = 1.0
    last: float = 0.0
    #: the story's first article (None: not known, as in values written before it was kept)
    first: float | None = None


class StoryAtKey(NamedTuple):
    """One story at this key: its articles' summed weight here, when it last had one here, and its snapshot.

    Tuples here and in :class:`PendingEntry` (JSON arrays in the table): a key holds up to 64, read and rebuilt on
    every probe and registration, and models cost several times more to validate and build.
    """

    weight: float
    seen: float
    size: int = 1
    norm: float = 1.0
    last: float = 0.0
    first: float | None = None


class PendingEntry(NamedTuple):
    """An article that probed this key and whose story is not decided yet: the story it would open."""

    article: str
    story: str
    weight: float
    time: float


class KeyEntriesValue(TableValue):
    """How the story-keys table stores a :class:`KeyEntries` (validated when read, versioned)."""

    stories: dict[str, StoryAtKey] = Field(default_factory=dict)
    pending: list[PendingEntry] = Field(default_factory=list)
    recent: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KeyEntries:
    """The stories of one key, its pending articles and the articles registered lately.

    A plain dataclass in memory, a :class:`KeyEntriesValue` in the table: a key's value is rebuilt on every probe and
    registration, and a pydantic model cost several times more to build. Values are never changed in place: a batch
    compares them by identity to know what it must write.
    """

    stories: dict[str, StoryAtKey] = field(default_factory=dict)
    pending: list[PendingEntry] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)

    @classmethod
    def loads(cls, data: bytes) -> KeyEntries:
        """Decode a stored value (raises :class:`~streams.errors.DecodeError`)."""
        value = KeyEntriesValue.loads(data)
        return cls(value.stories, value.pending, value.recent)

    def dumps(self) -> bytes:
        return KeyEntriesValue.model_construct(stories=self.stories, pending=self.pending, recent=self.recent).dumps()

    def answer(self, key: str, article_id: str) -> StoryKeyAnswer:
        """The candidate stories for ``article_id`` at this key (its own pending entry left out)."""
        found = [(s.weight, story, s.size, s.norm, s.last, s.first) for story, s in self.stories.items()]
        # Of the articles still in flight here, only the first: copies that arrive together then all join the story
        # the first one opens. Offered each other's stories, the later copies split among stories no one opens.
        others = [entry for entry in self.pending if entry.article != article_id and entry.story not in self.stories]
        if others:
            found.append((others[0].weight, others[0].story, 1, 1.0, others[0].time, others[0].time))
        ranked = sorted(found, key=lambda c: (-c[0], c[1]))[:MAX_CANDIDATES]
        candidates = [StoryCandidate(story, weight, size, norm, last, first) for weight, story, size, norm, last, first in ranked]
        return StoryKeyAnswer.model_construct(key=key, spread=len(self.stories) + len(others), candidates=candidates, article_id=article_id)

    def hold(self, article_id: str, story_id: str, weight: float, when: float, window_seconds: float) -> KeyEntries:
        """With the probing article as a pending entry of the story it would open (unless known here already)."""
        if article_id in self.recent or any(entry.article == article_id for entry in self.pending):
            return self
        entry = PendingEntry(article=article_id, story=story_id, weight=weight, time=when)
        return KeyEntries(stories=self.stories, pending=[*self.pending, entry], recent=self.recent).pruned(window_seconds)

    def register(self, article_id: str, story_id: str, weight: float, when: float, snapshot: Snapshot, window_seconds: float) -> KeyEntries:
        """With the article counted in its decided story here (once: a repeated registration changes nothing)."""
        pending = [entry for entry in self.pending if entry.article != article_id]
        if article_id in self.recent:  # unchanged unless it was pending: the same value, so the batch does not rewrite it
            return self if len(pending) == len(self.pending) else KeyEntries(stories=self.stories, pending=pending, recent=self.recent)
        stories = dict(self.stories)
        known = stories.get(story_id)
        if known is None:
            stories[story_id] = StoryAtKey(weight, when, snapshot.size, snapshot.norm, snapshot.last, snapshot.first)
        else:
            newer = (snapshot.size, snapshot.last) >= (known.size, known.last)
            stories[story_id] = StoryAtKey(
                weight=known.weight + weight,
                seen=max(known.seen, when),
                size=snapshot.size if newer else known.size,
                norm=snapshot.norm if newer else known.norm,
                last=snapshot.last if newer else known.last,
                first=earliest(known.first, snapshot.first),
            )
        recent = [*self.recent, article_id][-RECENT_ARTICLES:]
        return KeyEntries(stories=stories, pending=pending, recent=recent).pruned(window_seconds)

    def pruned(self, window_seconds: float, now: float | None = None) -> KeyEntries:
        """Without what is older than the window before ``now`` (default: the newest here), at most MAX_STORIES stories."""
        # one pass over the stories' times for both the newest and the oldest: this runs on every probe and registration
        seen = [s.seen for s in self.stories.values()]
        newest = max(seen + [e.time for e in self.pending], default=0.0)
        horizon = max(newest, now or 0.0) - window_seconds
        pending = [entry for entry in self.pending if entry.time >= horizon]
        if len(seen) <= MAX_STORIES and min(seen, default=horizon) >= horizon:
            if len(pending) == len(self.pending):
                return self  # nothing to drop (the usual case): no new value to build
            return KeyEntries(stories=self.stories, pending=pending, recent=self.recent)
        live = sorted(((s, v) for s, v in self.stories.items() if v.seen >= horizon), key=lambda item: (item[1].seen, item[0]))
        return KeyEntries(stories=dict(live[-MAX_STORIES:]), pending=pending, recent=self.recent)

    def empty(self) -> bool:
        return not self.stories and not self.pending


def earliest(one: float | None, other: float | None) -> float | None:
    """The earlier of two first-article times, either of which may be unknown."""
    known = [t for t in (one, other) if t is not None]
    return min(known) if known else None
