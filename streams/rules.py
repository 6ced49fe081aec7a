"""Alert rules as pure functions: a mention and the entity's history in, alerts and new history out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from pydantic import BaseModel, ConfigDict, Field

from schemas import Alert, Mention, WatchRule
from streams import ids

RECENT_ARTICLES = 50  # article ids remembered per entity, so a revision or a replay never re-fires


class EntitySeen(BaseModel):
    """What the alert agent remembers of one entity (a value of the entity-seen table)."""

    model_config = ConfigDict(extra="ignore")

    first_seen: datetime
    last_seen: datetime
    mentions: int = 0
    recent_articles: list[str] = Field(default_factory=list)

    def dumps(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def loads(cls, data: bytes) -> EntitySeen:
        return cls.model_validate(orjson.loads(data))


def mark_evidence(sentence: str, start: int, end: int) -> str:
    """The sentence with the mention between ``**`` marks (offsets relative to the sentence)."""
    if not (0 <= start < end <= len(sentence)):
        return sentence
    return f"{sentence[:start]}**{sentence[start:end]}**{sentence[end:]}"


def evaluate_mention(
    mention: Mention, seen: EntitySeen | None, rules: list[WatchRule], now: datetime, default_lookback_days: int
) -> tuple[EntitySeen, list[Alert]]:
    """Alerts ``mention`` fires under ``rules`` and the entity's updated history."""
    when = mention.published or mention.fetched
    repeat = seen is not None and mention.article_id in seen.recent_articles
    alerts: list[Alert] = []
    if not repeat:
        for rule in rules:
            if not rule.enabled:
                continue
            if rule.kind == "new_mention" and seen is not None:
                lookback = timedelta(days=rule.lookback_days or default_lookback_days)
                if seen.last_seen >= when - lookback:
                    continue
            alerts.append(build_alert(rule, mention, now))
    if seen is None:
        seen = EntitySeen(first_seen=when, last_seen=when)
    if not repeat:
        recent = [*seen.recent_articles, mention.article_id][-RECENT_ARTICLES:]
        seen = seen.model_copy(
            update={
                "last_seen": max(seen.last_seen, when),
                "first_seen": min(seen.first_seen, when),
                "mentions": seen.mentions + 1,
                "recent_articles": recent,
            }
        )
    return seen, alerts


def build_alert(rule: WatchRule, mention: Mention, now: datetime) -> Alert:
    """The alert of ``rule`` for ``mention``, with a deterministic id."""
    relative = mention.start - mention.sentence_start
    return Alert(
        id=ids.alert_id(rule.id, mention.entity_id, mention.article_id),
        rule_id=rule.id,
        kind=rule.kind,
        entity_id=mention.entity_id,
        entity_name=mention.name,
        article_id=mention.article_id,
        title=mention.title,
        url=mention.url,
        feed_id=mention.feed_id,
        sentence=mention.sentence,
        evidence=mark_evidence(mention.sentence, relative, relative + (mention.end - mention.start)),
        story_id=ids.stable_id("story", mention.article_id),
        published=mention.published,
        fetched=mention.fetched,
        detected=now,
        latency_seconds=max(0.0, (now - mention.fetched).total_seconds()),
    )


def utcnow() -> datetime:
    return datetime.now(tz=UTC)
