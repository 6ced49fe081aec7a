"""Stories as an entity remembers them: copies of one article (same URL, same content, near-duplicate text) are one story."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from streams import ids
from streams.enrich.fingerprint import distance

#: Hamming distance at or below which two SimHash sketches are the same story. Measured on the 2,225 BBC News
#: articles: copies with a few words changed or a sentence dropped stay within 2-9 bits, while below 12 bits the
#: corpus holds only its own known near-duplicate pairs; the mean distance of unrelated articles is 32. Candidates are
#: only an entity's recent stories (at most MAX_STORIES), so the false-match risk is per entity, not corpus-wide.
NEAR_DUPLICATE_BITS = 10


MAX_STORIES = 100  # stories remembered per entity


STORY_HORIZON = timedelta(days=7)  # copies published further apart are separate stories


MAX_COPIES = 20  # article ids and sources remembered per story


class Story(BaseModel):
    """One story as an entity remembers it: the fingerprints of its first copy and who carried it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    canonical_url: str
    content_hash: str
    sketch: str
    first: datetime
    previous: datetime | None = None  # the entity's last mention before this story (new_mention's look-back)
    article_ids: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    fired: list[str] = Field(default_factory=list)  # rule ids that alerted on this story


def matches(story: Story, canonical_url: str, content_hash: str, sketch_hex: str, when: datetime) -> bool:
    """Whether an article is a copy of ``story``: same canonical URL, same content, or a near-duplicate text."""
    if abs(when - story.first) > STORY_HORIZON:
        return False
    if canonical_url and canonical_url == story.canonical_url:
        return True
    if content_hash and content_hash == story.content_hash:
        return True
    return bool(sketch_hex and story.sketch) and distance(sketch_hex, story.sketch) <= NEAR_DUPLICATE_BITS


def find_story(stories: list[Story], article_id: str, canonical_url: str, content_hash: str, sketch_hex: str, when: datetime) -> int | None:
    """Index of the story the article belongs to (the same article id first: a revision stays in its story)."""
    for index, story in enumerate(stories):
        if article_id in story.article_ids:
            return index
    for index, story in enumerate(stories):
        if matches(story, canonical_url, content_hash, sketch_hex, when):
            return index
    return None


def new_story(article_id: str, canonical_url: str, content_hash: str, sketch_hex: str, when: datetime, source: str) -> Story:
    """A story started by its first copy; the id derives from that copy, so a replay gives the same id."""
    return Story(
        id=ids.stable_id("story", article_id),
        canonical_url=canonical_url,
        content_hash=content_hash,
        sketch=sketch_hex,
        first=when,
        article_ids=[article_id],
        sources=[source] if source else [],
    )


def attach(story: Story, article_id: str, source: str) -> Story:
    """The story with one more copy (kept bounded)."""
    article_ids = story.article_ids if article_id in story.article_ids else [*story.article_ids, article_id][-MAX_COPIES:]
    sources = story.sources if not source or source in story.sources else [*story.sources, source][-MAX_COPIES:]
    return story.model_copy(update={"article_ids": article_ids, "sources": sources})
