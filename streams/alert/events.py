"""Event rules as pure functions: which key events a rule asks for, and one alert per real event (reports grouped).

Reports of one event are grouped by PLOVER type, place and day, then by actors, magnitudes or wording.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas import Alert, Event, WatchRule
from streams import ids
from streams.enrich import fingerprint
from streams.kafka.tablevalue import TableValue

MAX_CLUSTERS = 50  # distinct events remembered per type, place and day
MAX_COPIES = 20  # article and event ids remembered per event
MAX_WORDS = 60  # sentence words kept per event for the wording comparison
#: word overlap (Jaccard) at or above which two sentences of one type, place and day report the same event: a lightly
#: edited copy keeps most words; a second outlet's own sentence about the same attack shares the key ones
SAME_WORDING = 0.5


def event_day(event: Event, now: datetime) -> date:
    """The event's day: its own ISO date when the text gave one, else the day its article was fetched (UTC).

    Not the day it is processed: a replay on a later day would put the event in a new group, whose first report
    alerts again (``now`` serves only events written before they carried ``seen``).
    """
    try:
        return date.fromisoformat((event.date or "")[:10])
    except ValueError:
        return (event.seen or now).astimezone(UTC).date()


def group_key(event: Event, now: datetime) -> str:
    """Events that may be one real event share this key: PLOVER type, place (normalised) and day."""
    # the most specific part of the place: "Mosul, Iraq" and "Mosul" are one place
    place = " ".join(fingerprint.words((event.location or "").split(",")[0]))
    return ids.stable_id("event-group", event.type.upper(), place, event_day(event, now).isoformat())


def _names(values: list[str]) -> set[str]:
    return {" ".join(fingerprint.words(value)) for value in values if value.strip()}


def _magnitudes(event: Event) -> list[str]:
    return sorted(f"{m.kind.casefold()}={m.value}" for m in event.magnitudes)


class EventCluster(BaseModel):
    """One real-world event as reported so far: the first report's id, what identifies it, who carried it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    actors: list[str] = Field(default_factory=list)
    magnitudes: list[str] = Field(default_factory=list)
    words: list[str] = Field(default_factory=list)
    article_ids: list[str] = Field(default_factory=list)
    event_ids: list[str] = Field(default_factory=list)
    fired: list[str] = Field(default_factory=list)


class EventGroup(TableValue):
    """The events of one type, place and day (a value of the event-group table)."""

    clusters: list[EventCluster] = Field(default_factory=list)
    #: Unix time of the last report that changed the group: how long it is kept (streams/alert/retention.py)
    touched: float = 0.0


def same_event(cluster: EventCluster, event: Event) -> bool:
    """Whether ``event`` (same type, place and day) reports the cluster's event.

    Overlapping actors say yes and disjoint ones no; without actors on both sides, the same magnitudes or
    mostly the same words do.
    """
    mine, theirs = set(cluster.actors), _names(event.actors)
    if mine and theirs:
        return bool(mine & theirs)
    magnitudes = _magnitudes(event)
    if magnitudes and magnitudes == cluster.magnitudes:
        return True
    words, known = set(fingerprint.words(event.sentence)[:MAX_WORDS]), set(cluster.words)
    return bool(words and known) and len(words & known) / len(words | known) >= SAME_WORDING


def evaluate_event(group: EventGroup | None, event: Event, rules: list[WatchRule], now: datetime) -> tuple[EventGroup, list[Alert]]:
    """Alerts ``event`` raises under the (already matching) event ``rules``, and the group's new state.

    The first report of an event fires each rule once; a report of it in another article is an ``update``
    alert with the same id and one more source; a replay, or the same event again in an article already
    counted (another sentence, a revision), changes nothing (the same ``group`` is returned). Another event of the
    same type in the same article is another event.
    """
    group = group or EventGroup()
    clusters = list(group.clusters)
    if any(event.id in cluster.event_ids for cluster in clusters):
        return group, []
    index = next((i for i, cluster in enumerate(clusters) if same_event(cluster, event)), None)
    if index is not None and event.article_id in clusters[index].article_ids:
        return group, []
    if index is None:
        cluster = EventCluster(
            id=event.id,
            actors=sorted(_names(event.actors)),
            magnitudes=_magnitudes(event),
            words=fingerprint.words(event.sentence)[:MAX_WORDS],
            article_ids=[event.article_id],
            event_ids=[event.id],
        )
        clusters.insert(0, cluster)
        index = 0
    else:
        cluster = clusters[index]
        cluster = cluster.model_copy(
            update={
                "article_ids": [*cluster.article_ids, event.article_id][-MAX_COPIES:],
                "event_ids": [*cluster.event_ids, event.id][-MAX_COPIES:],
            }
        )
    alerts: list[Alert] = []
    fired = list(cluster.fired)
    for rule in rules:
        update = rule.id in cluster.fired
        if not update:
            fired.append(rule.id)
        alerts.append(build_event_alert(rule, event, now, cluster, update=update))
    clusters[index] = cluster.model_copy(update={"fired": fired})
    return EventGroup(clusters=clusters[:MAX_CLUSTERS], touched=now.timestamp()), alerts


def build_event_alert(rule: WatchRule, event: Event, now: datetime, cluster: EventCluster, update: bool = False) -> Alert:
    """The alert of an event rule; every report of one event shares its id (derived from the first report)."""
    magnitudes = ", ".join(f"{m.value} {m.kind}" for m in event.magnitudes)
    where = f" in {event.location}" if event.location else ""
    return Alert(
        id=ids.alert_id(rule.id, "event", cluster.id),
        rule_id=rule.id,
        kind="event",
        entity_id="",
        entity_name=f"{event.type}{where}" + (f" ({magnitudes})" if magnitudes else ""),
        article_id=event.article_id,
        title=rule.entity.name,
        url="",
        feed_id="",
        sentence=event.sentence,
        evidence=event.sentence,
        story_id=cluster.id,
        event_id=event.id,
        # events carry no URL, so an event alert's sources are the ids of the articles reporting it
        source_count=len(cluster.article_ids),
        sources=list(cluster.article_ids),
        update=update,
        destinations=list(rule.destinations),
        digest=rule.digest,
        fetched=now,
        detected=now,
        latency_seconds=0.0,
    )


def event_matches(rule: WatchRule, event: Event) -> bool:
    """Whether ``event`` is what the event rule asks for: type, mode, actor, location, magnitude and confidence.

    Negated, hypothetical and future events ("did not attack", "could attack", "will attack") never match, nor an
    event whose article is outside the rule's scopes or holds an excluded word (``out_of_scope``, found by enrich).
    """
    if rule.kind != "event" or not rule.enabled or event.negated or event.hypothetical or event.future:
        return False
    if rule.id in event.out_of_scope:
        return False
    if rule.event_types and event.type.upper() not in {t.upper() for t in rule.event_types}:
        return False
    if rule.event_modes and (event.mode or "").casefold() not in {m.casefold() for m in rule.event_modes}:
        return False
    if rule.event_actor and not any(_named(rule.event_actor, actor) for actor in event.actors):
        return False
    if rule.event_location and not _named(rule.event_location, event.location or ""):
        return False
    if rule.magnitude_min is not None:
        wanted = rule.magnitude_kind.casefold() if rule.magnitude_kind else None
        if not any(m.value >= rule.magnitude_min and (wanted is None or m.kind.casefold() == wanted) for m in event.magnitudes):
            return False
    return rule.min_confidence is None or event.confidence >= rule.min_confidence


def _named(wanted: str, found: str) -> bool:
    """Whether ``found`` names ``wanted`` (whole words, case-insensitive: "Mosul" matches "Mosul, Iraq")."""
    return f" {' '.join(fingerprint.words(wanted))} " in f" {' '.join(fingerprint.words(found))} "
