"""The article's side of the story stage (a value of the story-articles table, keyed by article id).

An article arrives, probes its keys and waits; each key's answer is kept; when every key has answered, the one
decision rule (:mod:`streams.story.decide`) picks its story. The decision is remembered for the window, so a replay
or a new revision of the article gets the same story without asking again.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from schemas import (
    EnrichedArticle,
    Mention,
    StoryArticle,
    StoryArticleEntity,
    StoryKeyAnswer,
    StoryKeyMessage,
    StoryUpdate,
    StoryWork,
)
from streams.kafka.tablevalue import TableValue
from streams.story.decide import (
    AGE_HALF_LIFE_HOURS,
    FRESHNESS_HALF_LIFE_HOURS,
    LINK_SECONDS,
    THRESHOLD,
    Decision,
    decide,
    pending_weights,
    story_id_for,
)
from streams.story.features import StoryFeatures, features_of


class ArticleStory(TableValue):
    """One article in the story stage: waiting for its keys' answers, then its decided story."""

    time: float
    keys: int = 0
    story_id: str | None = None
    opened: bool = False
    #: the article arrived and its probes are out (the article itself is kept apart, written once: see agents/story.py)
    waiting: bool = False
    answers: dict[str, StoryKeyAnswer] = Field(default_factory=dict)


class OpenedStories(TableValue):
    """Stories opened per hour by the articles of one partition (the window's story count is this × partitions)."""

    hours: dict[str, int] = Field(default_factory=dict)

    def count(self, now: float, window_seconds: float) -> int:
        return sum(n for hour, n in self.hours.items() if int(hour) * 3600 >= now - window_seconds)

    def opened(self, when: float, window_seconds: float) -> OpenedStories:
        hours = {hour: n for hour, n in self.hours.items() if int(hour) * 3600 >= when - window_seconds}
        bucket = str(int(when // 3600))
        hours[bucket] = hours.get(bucket, 0) + 1
        return OpenedStories(hours=hours)


@dataclass(frozen=True)
class Outcome:
    """An article with its story: what is published (enriched, mentions) and the story's update."""

    item: EnrichedArticle
    mentions: list[Mention]
    update: StoryUpdate
    decision: Decision | None
    features: StoryFeatures


def probes(features: StoryFeatures) -> list[StoryKeyMessage]:
    """One probe per candidate key of the article, carrying its pending weight and the story it would open."""
    weights = pending_weights(features)
    story = story_id_for(features.article_id)
    return [
        StoryKeyMessage(kind="probe", key=key, article_id=features.article_id, story_id=story, weight=weights[key], time=features.time)
        for key in features.keys
        if key in weights
    ]


def on_article(state: ArticleStory | None, work: StoryWork) -> tuple[ArticleStory, list[StoryKeyMessage], bool]:
    """An arriving article: its new state, the probes to send and whether it is ready to decide (or known already)."""
    assert work.item is not None  # noqa: S101 - callers pass article work only
    if state is not None and state.story_id is not None:
        return state, [], True  # decided before: a replay or a new revision
    if state is not None and state.waiting:
        return state, [], len(state.answers) >= state.keys  # probes already out (the article came twice)
    features = features_of(work.item)
    sent = probes(features)
    fresh = ArticleStory(time=features.time, keys=len(sent), waiting=True, answers=dict(state.answers) if state else {})
    return fresh, sent, len(fresh.answers) >= fresh.keys


def on_answers(state: ArticleStory | None, answers: list[StoryKeyAnswer]) -> tuple[ArticleStory | None, bool]:
    """Some of the article's keys answered: the new state and whether every key has (None: no such article waits)."""
    if state is None or state.story_id is not None:
        return state, False  # late or repeated answers of an article already decided
    waiting = state.model_copy(update={"answers": {**state.answers, **{answer.key: answer for answer in answers}}})
    return waiting, waiting.waiting and len(waiting.answers) >= waiting.keys


def conclude(
    state: ArticleStory,
    work: StoryWork,
    stories_in_window: float,
    threshold: float = THRESHOLD,
    half_life_hours: float = FRESHNESS_HALF_LIFE_HOURS,
    age_half_life_hours: float = AGE_HALF_LIFE_HOURS,
    link_seconds: float = LINK_SECONDS,
) -> tuple[ArticleStory, Outcome]:
    """Decide (or recall) the story of the article ``work`` carries; the state keeps only the decision."""
    assert work.item is not None  # noqa: S101 - callers conclude with the article's own work
    features = features_of(work.item)
    decision: Decision | None = None
    if state.story_id is None:
        decision = decide(features, state.answers, stories_in_window, threshold, half_life_hours, age_half_life_hours, link_seconds)
        story_id, opened, vector = decision.story_id, decision.opened, decision.vector
    else:
        story_id, opened, vector = state.story_id, False, {}
    item = work.item.model_copy(update={"story_id": story_id})
    feed_date = work.item.article.feed_date
    linked = list(decision.linked) if decision is not None else []
    mentions = [mention.model_copy(update={"story_id": story_id, "feed_date": feed_date, "linked_story_ids": linked})
                for mention in work.mentions]  # fmt: skip
    update = StoryUpdate(story_id=story_id, opened=opened, article=story_article(item, features), vector=vector, time=features.time,
                         linked_story_ids=linked)  # fmt: skip
    done = ArticleStory(time=state.time, keys=state.keys, story_id=story_id, opened=opened)
    return done, Outcome(item, mentions, update, decision, features)


def link_messages(update: StoryUpdate) -> list[StoryUpdate]:
    """For each story the article would have joined too, a ``link`` message to it (keyed by its id): the link is
    named on both stories' records, whichever one a rule alerted on."""
    return [StoryUpdate(kind="link", story_id=other, linked_story_ids=[update.story_id], time=update.time)
            for other in update.linked_story_ids]  # fmt: skip


def story_article(item: EnrichedArticle, features: StoryFeatures) -> StoryArticle:
    article = item.article
    return StoryArticle(
        id=article.id,
        title=article.title,
        url=article.url,
        feed_id=article.feed_id,
        source=features.source,
        time=features.time,
        language=features.language,
        entities=[StoryArticleEntity(id=e.id, name=e.name, watched=bool(e.watch_ids)) for e in item.entities[:32]],
        published=article.published,
        fetched=article.fetched,
        feed_date=article.feed_date,
    )
