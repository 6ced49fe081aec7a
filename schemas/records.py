"""Pydantic records of every topic value (schema_version 1) and their strict orjson codec."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.errors import DecodeError as DecodeError  # re-exported: the error of decode()

SCHEMA_VERSION = 1
MAX_VALUE_BYTES = 4 * 1024 * 1024


class Record(BaseModel):
    """Base of every topic value: frozen, unknown fields kept out, versioned."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1] = 1


class FeedSource(Record):
    """A feed to poll (``wirewatch.feeds``, keyed by feed id; a tombstone removes it)."""

    id: str
    url: str
    title: str = ""
    tags: list[str] = Field(default_factory=list)
    language: str | None = None
    min_interval_seconds: int | None = None
    max_interval_seconds: int | None = None
    fulltext: bool = False
    enabled: bool = True


class Article(Record):
    """One new article or a new revision of one (``wirewatch.articles``, keyed by article id)."""

    id: str
    feed_id: str
    feed_url: str
    guid: str | None = None
    url: str
    canonical_url: str
    title: str
    summary: str = ""
    text: str = ""
    authors: list[str] = Field(default_factory=list)
    published: datetime | None = None
    fetched: datetime
    language: str | None = None
    content_hash: str
    revision: int = 1
    #: text, title, summary or authors were cut to the size policy (WIREWATCH_ARTICLE_MAX_CHARS, the message limit);
    #: ``content_hash`` is still that of the whole item
    truncated: bool = False
    #: the feed's tags when the item was polled (what ``--tag`` and a query's ``feed:`` scope match)
    tags: list[str] = Field(default_factory=list)
    #: the feed's own date when the item was polled (RSS ``lastBuildDate``, Atom ``updated``; never after ``fetched``):
    #: an undated item of a feed last built long ago is old news
    feed_date: datetime | None = None


class MentionSpan(Record):
    """Where an entity is named: character offsets into the article's text."""

    start: int
    end: int
    text: str


class Entity(Record):
    """One canonical entity of one article, with every mention's offsets."""

    id: str
    name: str
    type: str
    aliases: list[str] = Field(default_factory=list)
    mentions: list[MentionSpan] = Field(default_factory=list)
    watch_ids: list[str] = Field(default_factory=list)
    wikidata: str | None = None
    #: mentions found but not carried in ``mentions`` (the size policy keeps the first ones)
    mentions_cut: int = 0
    #: a known place's GeoNames id and coordinates (the registry's offline knowledge)
    geonames: int | None = None
    lat: float | None = None
    lon: float | None = None


class Magnitude(Record):
    """A counted consequence of an event (killed, injured, displaced, arrested, ...)."""

    kind: str
    value: int


class Event(Record):
    """A PLOVER key event found in an article (``wirewatch.events``, keyed by event id)."""

    id: str
    article_id: str
    type: str
    mode: str | None = None
    actors: list[str] = Field(default_factory=list)
    recipients: list[str] = Field(default_factory=list)
    location: str | None = None
    #: coordinates of ``location`` when the registry knows the place
    location_lat: float | None = None
    location_lon: float | None = None
    date: str | None = None
    magnitudes: list[Magnitude] = Field(default_factory=list)
    negated: bool = False
    future: bool = False
    hypothetical: bool = False
    sentence: str
    start: int
    end: int
    confidence: float
    #: when its article was fetched: the day an undated event is grouped under, the same when the event is replayed
    seen: datetime | None = None
    #: event rules whose scopes or exclusions its article fails (set where the article's text and feed are: enrich)
    out_of_scope: list[str] = Field(default_factory=list)


class EnrichedArticle(Record):
    """An article with its canonical entities and key events (``wirewatch.enriched``)."""

    article: Article
    entities: list[Entity] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    model: str
    enriched: datetime
    #: entities and events found but left out to keep the record within the message limit (the least mentioned first)
    entities_cut: int = 0
    events_cut: int = 0
    #: the story the article belongs to across outlets (set by the story stage; None before it)
    story_id: str | None = None


class Mention(Record):
    """One entity in one article (``wirewatch.mentions``, keyed by entity id)."""

    id: str
    entity_id: str
    name: str
    type: str
    watch_ids: list[str] = Field(default_factory=list)
    article_id: str
    revision: int = 1
    feed_id: str
    url: str
    title: str
    sentence: str
    sentence_start: int
    start: int
    end: int
    published: datetime | None = None
    fetched: datetime
    # story grouping: the article's canonical URL, content hash and SimHash sketch (16 hex digits)
    canonical_url: str | None = None
    content_hash: str | None = None
    sketch: str | None = None
    confidence: float | None = None
    # ids of the other entities in the same article (co_mention rules)
    co_entity_ids: list[str] = Field(default_factory=list)
    #: other names of the entity in this article (the registry learns variants from them)
    aliases: list[str] = Field(default_factory=list)
    #: the entity's Wikidata and GeoNames ids when the registry knows them
    wikidata: str | None = None
    geonames: int | None = None
    #: the story of the article across outlets (set by the story stage); alerts count stories, not copies
    story_id: str | None = None
    #: watching rules the article is outside the scopes or exclusions of (set by the story stage, which has the text)
    out_of_scope: list[str] = Field(default_factory=list)
    #: the article's ``feed_date`` (set by the story stage): an undated mention in a feed built long ago is old news
    feed_date: datetime | None = None
    #: stories opened in the same burst as ``story_id`` that the article would have joined too (set by the story
    #: stage): a name that alerted on one of them counts ``story_id`` as that story, so the split raises one alert
    linked_story_ids: list[str] = Field(default_factory=list)


class EntityRecord(Record):
    """One registry entity (``wirewatch.entities``, compacted, keyed by entity id): every name it goes by, its types,
    when it was seen, and its Wikidata / GeoNames ids and coordinates when known.

    An entry merged into another later is an alias record: ``merged_into`` names the entity that carries it on; a
    consumer follows it (once: the registry never chains aliases). A tombstone forgets an entry.
    """

    id: str
    name: str
    type: str
    #: types the mentions were given, with counts (the registry's evidence for ``type``)
    types: dict[str, int] = Field(default_factory=dict)
    #: names it was mentioned by, with counts (the most frequent first, at most 50)
    variants: dict[str, int] = Field(default_factory=dict)
    #: names an operator split off (``wirewatch entities split``): never joined to this entity again
    blocked: list[str] = Field(default_factory=list)
    #: titles it was named with ("president", "prime minister"), with counts
    roles: dict[str, int] = Field(default_factory=dict)
    #: the stories it was last mentioned in (at most 20), for a short name to resolve within its story first
    stories: list[str] = Field(default_factory=list)
    #: ids of the latest mentions counted (at most 20): a replayed mention is not counted twice
    recent: list[str] = Field(default_factory=list)
    mentions: int = 0
    first_seen: datetime
    last_seen: datetime
    wikidata: str | None = None
    geonames: int | None = None
    lat: float | None = None
    lon: float | None = None
    #: the entity this one was merged into (an alias record), if any
    merged_into: str | None = None
    #: who wrote it: the registry agent ("registry"), a watch rule ("watch") or an operator ("operator")
    origin: Literal["registry", "watch", "operator"] = "registry"


class WatchedEntity(Record):
    """The name a rule watches, with its aliases and optional Wikidata id."""

    name: str
    aliases: list[str] = Field(default_factory=list)
    type: str | None = None
    wikidata: str | None = None


class WatchRule(Record):
    """A watch rule (``wirewatch.rules``, keyed by rule id; a tombstone removes it)."""

    id: str
    kind: Literal["new_mention", "mention", "spike", "event", "co_mention", "breaking", "query"] = "new_mention"
    #: for a query rule the name only labels the rule
    entity: WatchedEntity
    lookback_days: int | None = None
    destinations: list[str] = Field(default_factory=list)
    enabled: bool = True
    # precision gates (any kind): mention/event confidence at least this; copies from at least this many sources (hosts)
    min_confidence: float | None = Field(None, ge=0, le=1)
    min_sources: int = Field(1, ge=1)
    # spike: stories in the last window against the baseline period before it; then quiet for the cooldown
    # breaking: a story's new sources in the last window against its own baseline (same fields; name "*" = any story)
    spike_window_minutes: int = Field(60, ge=15)
    spike_baseline_hours: int = Field(168, ge=1)
    spike_sensitivity: float = Field(3.0, gt=0)
    spike_min_mentions: int = Field(3, ge=1)
    cooldown_minutes: int = Field(360, ge=0)
    # event: PLOVER types and modes, an actor, a location (whole words), a magnitude threshold
    event_types: list[str] = Field(default_factory=list)
    event_modes: list[str] = Field(default_factory=list)
    event_actor: str | None = None
    event_location: str | None = None
    magnitude_kind: str | None = None
    magnitude_min: int | None = None
    # co_mention: the second watched entity that must appear in the same story
    other: WatchedEntity | None = None
    # low urgency: alerts are collected per push destination and sent as one summary per UTC hour or day
    digest: Literal["hourly", "daily"] | None = None
    #: query: a Lucene query-string query (docs/rules.md), matched once per story
    query: str | None = None
    # scopes and exclusions: only articles of these feeds (feed ids or tags), sources (hosts, subdomains too) and
    # languages, and none with one of the excluded words or phrases
    feeds: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)


class Alert(Record):
    """An alert (``wirewatch.alerts``, keyed by its deterministic id)."""

    id: str
    rule_id: str
    kind: str
    entity_id: str
    entity_name: str
    article_id: str
    title: str
    url: str
    feed_id: str
    sentence: str
    evidence: str
    story_id: str
    source_count: int = 1
    published: datetime | None = None
    fetched: datetime
    detected: datetime
    latency_seconds: float
    event_id: str | None = None
    # hosts that carried the story so far; update=true marks a later copy of an alert already raised (same id)
    sources: list[str] = Field(default_factory=list)
    update: bool = False
    destinations: list[str] = Field(default_factory=list)
    # the rule's digest period: push destinations get it in a summary instead of one by one
    digest: Literal["hourly", "daily"] | None = None
    #: what matched in ``sentence`` (offsets into it): the watched name, or every term of a query; ``evidence`` is the
    #: sentence with each of them between ``**`` marks
    highlights: list[MentionSpan] = Field(default_factory=list)


class StoryEntity(Record):
    """An entity a story names, with how many of its articles name it."""

    id: str
    name: str
    articles: int


class Story(Record):
    """A story across outlets (``wirewatch.stories``, compacted, keyed by story id): the latest state of each story."""

    id: str
    #: the most central title of the story's articles, and that article
    headline: str
    url: str
    article_id: str
    first_seen: datetime
    last_seen: datetime
    article_count: int
    source_count: int
    #: the first sources (hosts) that carried it, at most 20
    sources: list[str] = Field(default_factory=list)
    top_entities: list[StoryEntity] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    #: new: under an hour old; growing: the last hour's articles at least twice the story's earlier hourly rate;
    #: fading: no article for 6 hours or under half that rate; steady otherwise
    lifecycle: Literal["new", "growing", "steady", "fading"]
    #: articles in the hour up to last_seen
    velocity: int = 0
    #: articles per hour over the 24 hours up to last_seen, oldest first
    per_hour: list[int] = Field(default_factory=list)
    #: stories opened within minutes of this one that an article would have joined as well as the one it joined: the
    #: same news split by the order its first articles came in (rules count them as one story), at most 8
    linked_story_ids: list[str] = Field(default_factory=list)


class StoryCandidate(NamedTuple):
    """A story carrying a key: the summed weight of its articles there and its size, centroid norm, last and first time.

    A tuple (a JSON array ``[story, weight, size, norm, last, first]``), not a record: an answer carries up to 24, an
    article gets up to 16 answers, and building a model for each was the story stage's largest cost.
    """

    story: str
    weight: float
    size: int
    norm: float
    last: float
    #: the story's first article time (None: registered before stories carried it; then its age is not weighed)
    first: float | None = None


class StoryKeyAnswer(Record):
    """What one candidate key answers a probing article: the stories carrying it and how many stories that is."""

    key: str
    spread: int = 0
    candidates: list[StoryCandidate] = Field(default_factory=list)
    #: the probing article (an answer travels in a batch with the answers of other articles)
    article_id: str = ""


class StoryKeyMessage(Record):
    """To one candidate key: a probe (what stories carry the key?) or a registration (an article joined a story)."""

    kind: Literal["probe", "register"]
    key: str
    article_id: str = ""
    #: probe: the story the article would open; register: the story it belongs to
    story_id: str = ""
    weight: float = 0.0
    #: the article's time (unix seconds)
    time: float = 0.0
    #: register: the story's size, centroid norm and last article time
    size: int = 1
    norm: float = 1.0
    last: float = 0.0
    #: register: the story's first article time
    first: float | None = None


class StoryKeyBatch(Record):
    """To the candidate keys of one partition (``wirewatch.storykeys``, sent to that partition): probes and
    registrations in the order they were made, or a sweep of the partition.

    One message per partition and batch, not one per key: an article has up to 16 keys, and a message per key each way
    made the story stage the slowest of the pipeline.
    """

    kind: Literal["keys", "sweep"] = "keys"
    messages: list[StoryKeyMessage] = Field(default_factory=list)
    #: a sweep: when it was asked for (unix seconds)
    time: float = 0.0


class StoryWork(Record):
    """An article waiting for its story, the answers of one partition's keys, or a sweep (``wirewatch.storywork``:
    an article keyed by its id; answers sent to the partition of the articles they answer)."""

    kind: Literal["article", "answers", "sweep"]
    article_id: str = ""
    item: EnrichedArticle | None = None
    mentions: list[Mention] = Field(default_factory=list)
    answers: list[StoryKeyAnswer] = Field(default_factory=list)
    time: float = 0.0


class StoryArticleEntity(Record):
    """An entity of an article as the story stage keeps it."""

    id: str
    name: str
    watched: bool = False


class StoryArticle(Record):
    """What a story keeps of one of its articles."""

    id: str
    title: str
    url: str
    feed_id: str
    source: str
    time: float
    language: str
    entities: list[StoryArticleEntity] = Field(default_factory=list)
    published: datetime | None = None
    fetched: datetime | None = None
    #: the article's ``feed_date``: with ``published`` and ``fetched``, whether its date is suspect for a rule
    feed_date: datetime | None = None


class QueryHit(Record):
    """A query rule that matches an article, with the evidence: a sentence and what matched in it (offsets into it)."""

    rule_id: str
    sentence: str
    highlights: list[MentionSpan] = Field(default_factory=list)


class StoryUpdate(Record):
    """One more article for a story (``wirewatch.storyupdates``, keyed by story id), a link of a story to another of its
    burst (``link``), a query rule's match of an article (``query``, keyed by rule id: the rule's memory is there), or
    a sweep of the partition."""

    kind: Literal["article", "sweep", "query", "link"] = "article"
    story_id: str = ""
    opened: bool = False
    article: StoryArticle | None = None
    #: the article's unit vector over its keys (what the centroid adds and the keys register)
    vector: dict[str, float] = Field(default_factory=dict)
    time: float = 0.0
    #: ``query``: the rule's match (one); ``article``: only from workers before query rules followed linked stories,
    #: which counted them with the story (such a message's matches are sent on as ``query`` messages)
    query_hits: list[QueryHit] = Field(default_factory=list)
    #: ``article`` and ``query``: the stories opened in the same burst the article would have joined too
    #: (``Mention.linked_story_ids``); ``link``: the story the keyed one is linked to
    linked_story_ids: list[str] = Field(default_factory=list)
    #: scoped rules whose scopes or exclusions the article fails (found where its text is): no breaking rule fires on it
    out_of_scope: list[str] = Field(default_factory=list)


class DigestItem(Record):
    """An alert waiting for a digest, or a request to send one (``wirewatch.digests``, keyed by destination and period)."""

    destination: str
    period: Literal["hourly", "daily"]
    period_start: datetime
    #: the alert to collect; None asks the digest agent to send the digest if due (the timer's flush request)
    alert: Alert | None = None
    #: with no alert: send the digest now, before its period ends (`wirewatch destinations send-digests`); alerts of
    #: the same period arriving later go into the next period's digest, as after any send
    now: bool = False


class Delivered(Record):
    """An alert handed to all its destinations (``wirewatch.delivered``, keyed by alert id), or a sweep of the partition.

    Written only after every destination of the alert has finished (delivered, put in its digest or dead-lettered), so
    the delivery agent can tell a replayed alert from a new one (or a new update: a higher ``source_count``).
    """

    kind: Literal["delivered", "sweep"] = "delivered"
    alert_id: str = ""
    source_count: int = 0
    #: when the deliveries finished (the memory runs from it); for a sweep, the time the sweep was asked
    at: datetime


class Digest(Record):
    """One summary of a destination's low-urgency alerts in one UTC period: the body a digest webhook receives."""

    type: Literal["digest"] = "digest"
    id: str
    period: Literal["hourly", "daily"]
    period_start: datetime
    period_end: datetime
    #: alerts in the period; ``alerts`` lists the first of them (at most ``digest_max_alerts``)
    count: int
    alerts: list[Alert] = Field(default_factory=list)


class DestinationState(Record):
    """A destination that answered 410 Gone (``wirewatch.destinations``, compacted; a tombstone re-enables it)."""

    id: str
    spec: str
    name: str
    disabled: bool = True
    reason: str = ""
    since: datetime


class AlertAck(Record):
    """An analyst's acknowledgement of an alert (``wirewatch.acks``, compacted, keyed by alert id; a tombstone withdraws it)."""

    alert_id: str
    acknowledged: datetime
    #: where it was given: ``cli`` or ``dashboard``
    by: Literal["cli", "dashboard"]
    note: str = Field("", max_length=500)


class DeadLetter(Record):
    """A message that could not be processed, with where it came from and why.

    A value too big to carry (its dead letter would exceed the message limit) is dead-lettered by reference:
    ``value_b64`` is empty, ``value_omitted`` is true, and ``size`` and ``sha256`` identify the original, which
    stays readable at ``topic``/``partition``/``offset`` for the topic's retention. A record that never reached
    Kafka (refused before it was sent) has partition and offset -1.
    """

    key: str | None
    value_b64: str
    error: str
    topic: str
    partition: int
    offset: int
    agent: str
    time: datetime
    #: the original value's length in bytes and its SHA-256 (hex); None in dead letters written before they existed
    size: int | None = None
    sha256: str | None = None
    value_omitted: bool = False


R = TypeVar("R", bound=Record)


def encode(record: Record) -> bytes:
    """Serialize a record to JSON bytes (pydantic's serializer writes them directly: half the time of dump-then-orjson)."""
    return type(record).__pydantic_serializer__.to_json(record)


def decode(model: type[R], data: bytes | None) -> R:
    """Parse and validate JSON bytes as ``model``; any defect raises :class:`DecodeError`."""
    if data is None:
        raise DecodeError(f"{model.__name__}: empty value (tombstone)")
    if len(data) > MAX_VALUE_BYTES:
        raise DecodeError(f"{model.__name__}: value of {len(data)} bytes exceeds {MAX_VALUE_BYTES}")
    obj = json_object(model.__name__, data)
    if b"\\u0000" in data:  # JSON's only spelling of NUL inside a string (raw control bytes are invalid JSON)
        refuse_nul(model.__name__, obj)
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DecodeError(f"{model.__name__}: unsupported schema_version {version!r} (this build reads {SCHEMA_VERSION})")
    return validated(model, obj)


def json_object(name: str, data: bytes) -> dict[str, Any]:
    """``data`` as a JSON object; anything else raises :class:`DecodeError` naming ``name``."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"{name}: invalid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise DecodeError(f"{name}: expected a JSON object, got {type(obj).__name__}")
    return obj


def refuse_nul(name: str, value: Any, where: str = "") -> None:
    """Raise :class:`DecodeError` naming the first string (key or value) of ``value`` that holds a NUL character.

    No text Wirewatch stores may hold one (PostgreSQL refuses it, the poller strips it): such a record is poison.
    """
    if isinstance(value, str):
        if "\0" in value:
            raise DecodeError(f"{name}: {where or 'value'}: NUL character in a string")
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(name, key, where)
            refuse_nul(name, item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_nul(name, item, f"{where}.{index}" if where else str(index))


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], obj: dict[str, Any]) -> M:
    """``obj`` validated as ``model``; the first defect raises :class:`DecodeError` with the field's path."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DecodeError(f"{model.__name__}: {where}: {first['msg']} ({exc.error_count()} error(s))") from exc
