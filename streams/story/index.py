"""The whole story stage in one process: the same pure steps the streaming agents run, over dictionaries.

``wirewatch simulate``, the quality benchmark and the tests use it. Each article goes through every step before the
next one starts (probe its keys, answer, decide, add to its story, register at its keys), which is what the agents do
whenever an article is not in flight together with another one (docs/design.md, "Stories").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import EnrichedArticle, Mention, Story, StoryKeyAnswer, StoryKeyMessage, StoryUpdate, StoryWork
from streams.story import gather
from streams.story.decide import AGE_HALF_LIFE_HOURS, FRESHNESS_HALF_LIFE_HOURS, LINK_SECONDS, THRESHOLD
from streams.story.gather import ArticleStory, OpenedStories, Outcome, link_messages
from streams.story.keys import KeyEntries, Snapshot
from streams.story.state import StoryState, add_article, link, new_state, story_record


@dataclass
class Step:
    """What one article did: its outcome, the story's state after it and the story record published."""

    outcome: Outcome
    state: StoryState | None
    story: Story | None


@dataclass
class StoryIndex:
    """Key tables, article assignments and story states of one process; ``partitions`` as the agents' topics have."""

    window_seconds: float = 72 * 3600.0
    partitions: int = 1
    threshold: float = THRESHOLD
    half_life_hours: float = FRESHNESS_HALF_LIFE_HOURS
    age_half_life_hours: float = AGE_HALF_LIFE_HOURS
    link_seconds: float = LINK_SECONDS
    keys: dict[str, KeyEntries] = field(default_factory=dict)
    articles: dict[str, ArticleStory] = field(default_factory=dict)
    stories: dict[str, StoryState] = field(default_factory=dict)
    opened: OpenedStories = field(default_factory=OpenedStories)
    #: the newest article time seen (what the sweep measures the window from)
    newest: float = 0.0

    def add(self, item: EnrichedArticle, mentions: list[Mention] | None = None) -> Step:
        """Assign one enriched article to its story (joining or opening one) and update that story."""
        work = StoryWork(kind="article", article_id=item.article.id, item=item, mentions=mentions or [])
        state, sent, ready = gather.on_article(self.articles.get(item.article.id), work)
        if sent:
            answered, ready = gather.on_answers(state, [self.answer(probe) for probe in sent])
            assert answered is not None  # noqa: S101 - the article's own state
            state = answered
        assert ready  # noqa: S101 - every key answered in-process
        stories_in_window = self.opened.count(state.time, self.window_seconds) * self.partitions
        done, outcome = gather.conclude(state, work, stories_in_window, self.threshold, self.half_life_hours, self.age_half_life_hours,
                                        self.link_seconds)  # fmt: skip
        self.articles[item.article.id] = done
        if outcome.decision is not None and outcome.decision.opened:
            self.opened = self.opened.opened(outcome.features.time, self.window_seconds)
        self.newest = max(self.newest, outcome.features.time)
        story_state, record = self.update(outcome.update)
        for message in link_messages(outcome.update):  # what the story agent does with them on the other partitions
            linked = link(self.stories.get(message.story_id), message.linked_story_ids)
            if linked is not None:
                self.stories[message.story_id] = linked
        return Step(outcome, story_state, record)

    def answer(self, probe: StoryKeyMessage) -> StoryKeyAnswer:
        """A key's answer to a probe; the probing article is then held there (what the key agent does)."""
        entries = self.keys.get(probe.key, KeyEntries())
        reply = entries.answer(probe.key, probe.article_id)
        self.keys[probe.key] = entries.hold(probe.article_id, probe.story_id, probe.weight, probe.time, self.window_seconds)
        return reply

    def update(self, update: StoryUpdate) -> tuple[StoryState | None, Story | None]:
        """The story agent's step: add the article, register it at its keys; the new state and record (None: known)."""
        assert update.article is not None  # noqa: S101 - article updates only
        current = self.stories.get(update.story_id) or new_state(update.story_id, update.article.time)
        state = add_article(current, update, self.window_seconds)
        if state is None:
            return self.stories.get(update.story_id), None
        self.stories[update.story_id] = state
        for message in registrations(update, state.snapshot()):
            self.register(message)
        return state, story_record(state)

    def register(self, message: StoryKeyMessage) -> None:
        entries = self.keys.get(message.key, KeyEntries())
        snap = Snapshot(size=message.size, norm=message.norm, last=message.last, first=message.first)
        self.keys[message.key] = entries.register(message.article_id, message.story_id, message.weight, message.time, snap,
                                                  self.window_seconds)  # fmt: skip

    def sweep(self, now: float | None = None) -> None:
        """Drop what fell out of the window before ``now`` (default: the newest article seen), as the agents' sweep does."""
        at = self.newest if now is None else now
        horizon = at - self.window_seconds
        for key in list(self.keys):
            pruned = self.keys[key].pruned(self.window_seconds, at)
            if not pruned.empty():
                self.keys[key] = pruned
            else:
                del self.keys[key]
        self.articles = {a: s for a, s in self.articles.items() if s.time >= horizon}
        self.stories = {s: state for s, state in self.stories.items() if state.last >= horizon}

    def sizes(self) -> dict[str, int]:
        """How much state the index holds, by count (keys, key entries, articles remembered, stories)."""
        return {
            "keys": len(self.keys),
            "key_stories": sum(len(entries.stories) + len(entries.pending) for entries in self.keys.values()),
            "articles": len(self.articles),
            "stories": len(self.stories),
        }


def registrations(update: StoryUpdate, snapshot: Snapshot) -> list[StoryKeyMessage]:
    """One registration per key of the article's vector: its story, weight and the story's snapshot."""
    assert update.article is not None  # noqa: S101
    return [
        StoryKeyMessage(
            kind="register",
            key=key,
            article_id=update.article.id,
            story_id=update.story_id,
            weight=weight,
            time=update.article.time,
            size=snapshot.size,
            norm=snapshot.norm,
            last=snapshot.last,
            first=snapshot.first,
        )  # fmt: skip
        for key, weight in update.vector.items()
    ]
