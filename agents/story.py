"""Story agents: articles to stories across outlets, partitioned three ways (article id, candidate key, story id).

``assign_stories`` (partitioned by article id) sends an article's probes, gathers its keys' answers and decides its
story, then publishes the enriched article and its mentions with the story id and the story's update.
``match_story_keys`` (partitioned by candidate key) answers probes and records registrations. ``track_stories``
(keyed by story id) keeps the story, publishes ``wirewatch.stories``, registers the article at its keys and evaluates
breaking rules. No partition sees every article. A timer asks every partition to drop what fell out of the window.

Each agent takes a batch at a time: it reads and writes each table key once per batch, and what goes to another
stage's partitions travels as one message per partition (the probes of every article of the batch whose keys live
there, the answers to every article of one partition), not one message per key.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agents.common import Outbox, bounded, decode_or_dead_letter, guarded, health, hold, on_partition, rulebook, settings, sizes
from schemas import Alert, StoryKeyAnswer, StoryKeyBatch, StoryKeyMessage, StoryUpdate, StoryWork, decode, encode
from streams.alert.queryrules import QuerySeen, evaluate_query, query_messages, screen_article
from streams.clock import utcnow
from streams.kafka.apps import worker_app
from streams.kafka.background import survives
from streams.kafka.partitioning import key_partition, writing_for
from streams.kafka.topology import (
    alerts_topic,
    enriched_topic,
    mentions_topic,
    query_seen_table,
    stories_topic,
    story_article_table,
    story_key_table,
    story_keys_topic,
    story_table,
    story_updates_topic,
    story_work_topic,
)
from streams.story import gather
from streams.story.breaking import evaluate_breaking
from streams.story.gather import ArticleStory, OpenedStories, link_messages
from streams.story.index import registrations
from streams.story.keys import KeyEntries, Snapshot
from streams.story.metrics import ARTICLES_ASSIGNED, STORIES_OPENED
from streams.story.state import StoryState, add_article, link, new_state, story_record

log = logging.getLogger(__name__)
WINDOW = settings.story_window_hours * 3600.0
#: the key of each partition's count of stories opened (a value of the story-articles table, never an article id)
OPENED_KEY = "~opened:{partition}"
#: the key of an article waiting for its answers (the StoryWork message as it came), beside its ArticleStory value
WORK_KEY = "~work:{article}"
#: key messages and answers per Kafka message: a batch of 500 articles has up to 8,000 of each, far over the limit
KEY_MESSAGES_PER_SEND = 1000
ANSWERS_PER_SEND = 100
#: the newest article time each agent has seen per partition: what the sweep measures the window from (event time)
newest: dict[tuple[str, int], float] = {}
T = TypeVar("T")


def _seen(agent: str, partition: int, when: float) -> None:
    newest[(agent, partition)] = max(newest.get((agent, partition), 0.0), when)


class Changes:
    """The table values one batch read and changed, each written once at the end, to the changelog partition of the
    event that last changed it (one of the partition the key belongs to)."""

    def __init__(self, table: Any, load: Callable[[bytes], Any], dump: Callable[[str, Any], bytes] | None = None) -> None:
        # dump: how a value is written (default: its dumps()); the query memory is cut to its bound there, once a batch
        self.table, self.load = table, load
        self.dump = dump or (lambda _key, value: value.dumps())
        self.values: dict[str, Any] = {}
        self.owners: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        if key not in self.values:
            raw = self.table.get(key)
            self.values[key] = self.load(raw) if raw is not None else None
        return self.values[key]

    def put(self, key: str, value: Any, event: Any) -> None:
        self.values[key] = value
        self.owners[key] = event

    def write(self) -> None:
        # one context per event, not per key: a batch of probes changes up to a thousand keys of one message
        by_event: dict[int, tuple[Any, list[str]]] = {}
        for key, event in self.owners.items():
            by_event.setdefault(id(event), (event, []))[1].append(key)
        for event, keys in by_event.values():
            with writing_for(event):
                for key in keys:
                    self.table[key] = self.dump(key, self.values[key])


def chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


async def send_batched(outbox: Outbox, topic: Any, per_partition: dict[int, list[T]], size: int, wrap: Callable[[list[T]], Any],
                       kind: str) -> None:  # fmt: skip
    """One message per partition (and per ``size`` items) to ``topic``, sent to that partition; bigger halves if over the limit.

    Its key (``~probes:3``, ``~answers:3``...) only names it: the partition is given, so the key does not place it."""
    for partition, items in sorted(per_partition.items()):
        pending = chunks(items, size)
        while pending:
            chunk = pending.pop(0)
            value = encode(wrap(chunk))
            if not sizes.fits(None, value) and len(chunk) > 1:
                pending[:0] = chunks(chunk, (len(chunk) + 1) // 2)
                continue
            await outbox.send(topic, f"~{kind}:{partition}", value, partition=partition)


async def run_batches(stream: Any, agent: str, step: Callable[[list[Any], Outbox], Awaitable[None]], rules: bool) -> None:
    """The loop of each story agent: a batch at a time, its outputs awaited before its offsets are committed.

    With ``rules`` it waits for the rulebook first (inside the loop, as in raise_alerts: the stream subscribes its
    topic only once iterated). A failed output holds the batch, read again after a restart: every step is idempotent
    (a decided article recalls its story and a counted one is not counted again).
    """
    async for events in stream.take_events(settings.story_batch_size, within=settings.story_batch_seconds):
        if rules:
            await rulebook.ready.wait()
        health.begin(agent)
        async with guarded(agent, events):
            outbox = Outbox()
            await step(events, outbox)
            failures = await outbox.flush()
            if failures:
                exc = next(iter(failures.values()))
                hold(events, agent, f"outputs not sent: {type(exc).__name__}: {exc}")
        health.done(agent)


@worker_app.agent(story_work_topic)
async def assign_stories(stream):  # type: ignore[no-untyped-def]
    """Enriched articles and their keys' answers → each article's story → ``wirewatch.enriched``, ``.mentions``, ``.storyupdates``."""
    await run_batches(stream, "assign_stories", lambda events, outbox: assign_batch(events, outbox), rules=True)


async def assign_batch(events: list[Any], outbox: Outbox) -> None:
    articles = Changes(story_article_table, ArticleStory.loads)
    opened = Changes(story_article_table, OpenedStories.loads)
    probes: dict[int, list[StoryKeyMessage]] = defaultdict(list)
    sweeps: list[int] = []
    for event in events:
        work = await decode_or_dead_letter(event, StoryWork, "assign_stories")
        if work is None:
            continue
        partition = event.message.partition
        if work.kind == "sweep":
            sweeps.append(partition)
            continue
        if work.kind == "article":
            state, sent, ready = gather.on_article(articles.get(work.article_id), work)
            if not ready:
                with writing_for(event):  # the article is kept apart from its answers: written once, not with each answer
                    story_article_table[WORK_KEY.format(article=work.article_id)] = event.value
            for probe in sent:
                probes[key_partition(probe.key, settings.partitions)].append(probe)
            await _after(articles, opened, work.article_id, state, ready, work, event, outbox)
            continue
        by_article: dict[str, list[StoryKeyAnswer]] = defaultdict(list)
        for answer in work.answers:
            by_article[answer.article_id].append(answer)
        for article_id, answers in by_article.items():
            answered, ready = gather.on_answers(articles.get(article_id), answers)
            if answered is None:
                continue  # answers for an article this partition does not hold (already decided and swept)
            kept = story_article_table.get(WORK_KEY.format(article=article_id)) if ready else None
            if ready and kept is None:
                log.error("article %s: every key answered but the article is not kept; it waits for its next copy", article_id,
                          extra={"article_id": article_id})  # fmt: skip
                ready = False
            article = decode(StoryWork, kept) if kept is not None else None
            await _after(articles, opened, article_id, answered, ready, article, event, outbox)
    articles.write()
    opened.write()
    for partition in sweeps:
        _sweep_articles(partition)
    await send_batched(outbox, story_keys_topic, probes, KEY_MESSAGES_PER_SEND, lambda chunk: StoryKeyBatch(messages=chunk), "probes")


async def _after(articles: Changes, opened: Changes, article_id: str, state: ArticleStory, ready: bool, work: StoryWork | None,
                 event: Any, outbox: Outbox) -> None:  # fmt: skip
    """The article's new state; once every key has answered, its story decided and published."""
    if not ready or work is None:
        articles.put(article_id, state, event)
        return
    partition = event.message.partition
    opened_key = OPENED_KEY.format(partition=partition)
    counts = opened.get(opened_key) or OpenedStories()
    done, outcome = gather.conclude(state, work, counts.count(state.time, WINDOW) * settings.partitions)
    articles.put(work.article_id, done, event)
    kept = WORK_KEY.format(article=work.article_id)
    if kept in story_article_table:
        with writing_for(event):
            del story_article_table[kept]
    _seen("assign_stories", partition, outcome.features.time)
    if outcome.decision is not None:
        ARTICLES_ASSIGNED.inc()
        if outcome.decision.opened:
            STORIES_OPENED.inc()
            opened.put(opened_key, counts.opened(outcome.features.time, WINDOW), event)
    if outcome.features.suspect_date:  # logged and counted once per article by the poller (streams/poll/steps.py)
        log.debug("article %s: published %s is in the future; clustered at its fetch time", outcome.item.article.id,
                  outcome.item.article.published, extra={"article_id": outcome.item.article.id})  # fmt: skip
    # query rules and scopes need the article's text, which only this stage and enrich hold (docs/design.md)
    hits, mentions, outside = screen_article(outcome.item, outcome.mentions, rulebook.queries)
    # breaking rules fire where the story is, which never sees the text: their verdict travels with it
    update = outcome.update.model_copy(update={"out_of_scope": outside}) if outside else outcome.update
    await outbox.send(enriched_topic, outcome.item.article.id, encode(outcome.item))
    for mention in mentions:
        await outbox.send(mentions_topic, mention.entity_id, encode(mention))
    await outbox.send(story_updates_topic, update.story_id, encode(update))
    for message in link_messages(update):
        await outbox.send(story_updates_topic, message.story_id, encode(message))
    # a query rule is counted where its memory is, as a name is: so it can count a linked story as the one it matched
    for rule_id, match in query_messages(update, hits):
        await outbox.send(story_updates_topic, rule_id, encode(match))


def _sweep_articles(partition: int) -> None:
    horizon = newest.get(("assign_stories", partition), 0.0) - WINDOW
    keys = list(story_article_table.keys())
    for key in [k for k in keys if not k.startswith("~") and on_partition(k, partition)]:
        raw = story_article_table.get(key)
        if raw is not None and ArticleStory.loads(raw).time < horizon:
            del story_article_table[key]
    for key in [k for k in keys if k.startswith("~work:") and on_partition(k.removeprefix("~work:"), partition)]:
        if key.removeprefix("~work:") not in story_article_table:  # its article was swept: it never got every answer
            del story_article_table[key]


@worker_app.agent(story_keys_topic)
async def match_story_keys(stream):  # type: ignore[no-untyped-def]
    """Probes and registrations for the keys of a partition → the keys' stories; probes answered on ``wirewatch.storywork``."""
    await run_batches(stream, "match_story_keys", lambda events, outbox: keys_batch(events, outbox), rules=False)


async def keys_batch(events: list[Any], outbox: Outbox) -> None:
    entries = Changes(story_key_table, KeyEntries.loads)
    answers: dict[int, list[StoryKeyAnswer]] = defaultdict(list)
    sweeps: list[int] = []
    for event in events:
        batch = await decode_or_dead_letter(event, StoryKeyBatch, "match_story_keys")
        if batch is None:
            continue
        partition = event.message.partition
        if batch.kind == "sweep":
            sweeps.append(partition)
            continue
        for message in batch.messages:
            current = entries.get(message.key) or KeyEntries()
            _seen("match_story_keys", partition, message.time)
            if message.kind == "probe":
                answers[key_partition(message.article_id, settings.partitions)].append(current.answer(message.key, message.article_id))
                changed = current.hold(message.article_id, message.story_id, message.weight, message.time, WINDOW)
            else:
                snap = Snapshot(size=message.size, norm=message.norm, last=message.last, first=message.first)
                changed = current.register(message.article_id, message.story_id, message.weight, message.time, snap, WINDOW)
            if changed is not current:
                entries.put(message.key, changed, event)
    entries.write()
    for partition in sweeps:
        _sweep_keys(partition)
    await send_batched(
        outbox, story_work_topic, answers, ANSWERS_PER_SEND, lambda chunk: StoryWork(kind="answers", answers=chunk), "answers"
    )


def _sweep_keys(partition: int) -> None:
    now = newest.get(("match_story_keys", partition), 0.0)

    def prune(raw: bytes) -> tuple[KeyEntries, bool]:
        pruned = KeyEntries.loads(raw).pruned(WINDOW, now)
        return pruned, not pruned.empty()

    _prune(story_key_table, partition, prune)


def _prune(table: Any, partition: int, prune: Callable[[bytes], tuple[Any, bool]]) -> None:
    """Every value of ``partition`` in ``table`` pruned: ``prune`` gives the value to write (None: unchanged) and whether
    anything is left (else the key is deleted)."""
    for key in [k for k in list(table.keys()) if on_partition(k, partition)]:
        raw = table.get(key)
        if raw is None:
            continue
        value, left = prune(raw)
        if not left:
            del table[key]
        elif value is not None:
            table[key] = value.dumps()


@worker_app.agent(story_updates_topic)
async def track_stories(stream):  # type: ignore[no-untyped-def]
    """Story updates keyed by story id → each story's state → ``wirewatch.stories``, registrations, breaking alerts."""
    await run_batches(stream, "track_stories", lambda events, outbox: track_batch(events, outbox), rules=True)


async def track_batch(events: list[Any], outbox: Outbox) -> None:
    stories = Changes(story_table, StoryState.loads)
    queries = Changes(query_seen_table, QuerySeen.loads, lambda rule_id, seen: bounded("query-seen", rule_id, seen))
    keyed: dict[int, list[StoryKeyMessage]] = defaultdict(list)
    alerts: list[Alert] = []
    sweeps: list[int] = []
    for event in events:
        update = await decode_or_dead_letter(event, StoryUpdate, "track_stories")
        if update is None:
            continue
        if update.kind == "sweep":
            sweeps.append(event.message.partition)
            continue
        if update.kind == "link":
            linked = link(stories.get(update.story_id), update.linked_story_ids)
            if linked is not None:
                stories.put(update.story_id, linked, event)
            continue
        if update.article is None:
            continue
        if update.kind == "query":
            alerts.extend(_count_query(queries, update, event))
            continue
        for rule_id, match in query_messages(update, update.query_hits):  # written by a worker before query messages
            await outbox.send(story_updates_topic, rule_id, encode(match))
        current = stories.get(update.story_id) or new_state(update.story_id, update.article.time)
        state = add_article(current, update, WINDOW)
        if state is None:
            continue  # the article was counted before: a replay or a new revision
        _seen("track_stories", event.message.partition, state.last)
        now = utcnow()
        lookback = settings.new_mention_lookback_days
        fired, raised = evaluate_breaking(state, rulebook.watchlist.breaking_rules(), update.article, now, lookback, update.out_of_scope)
        state = state.model_copy(update={"fired": fired})
        stories.put(update.story_id, state, event)
        alerts.extend(raised)
        for message in registrations(update, state.snapshot()):
            keyed[key_partition(message.key, settings.partitions)].append(message)
    stories.write()
    queries.write()
    for partition in sweeps:
        _sweep_stories(partition)
        _sweep_queries(partition)
    for story_id in stories.owners:  # the story as the batch left it: the topic is compacted, one record is enough
        await outbox.send(stories_topic, story_id, encode(story_record(stories.values[story_id])))
    await send_batched(outbox, story_keys_topic, keyed, KEY_MESSAGES_PER_SEND, lambda chunk: StoryKeyBatch(messages=chunk), "registrations")
    for alert in alerts:
        await outbox.send(alerts_topic, alert.id, encode(alert))


def _sweep_stories(partition: int) -> None:
    horizon = newest.get(("track_stories", partition), 0.0) - WINDOW
    _prune(story_table, partition, lambda raw: (None, StoryState.loads(raw).last >= horizon))


def _count_query(queries: Changes, update: StoryUpdate, event: Any) -> list[Alert]:
    """A query rule's match counted in the rule's memory (the message is keyed by the rule's id), and its alerts."""
    if not update.query_hits or update.article is None:  # for the type: the caller skips messages without an article
        return []
    hit = update.query_hits[0]
    _seen("track_stories", event.message.partition, update.article.time)
    current = queries.get(hit.rule_id)
    seen, alerts = evaluate_query(current, hit, rulebook.watchlist.rules.get(hit.rule_id), update.article, update.story_id,
                                  update.linked_story_ids, utcnow(), settings.new_mention_lookback_days)  # fmt: skip
    if seen is not current and seen.stories:
        queries.put(hit.rule_id, seen, event)
    return alerts


def _sweep_queries(partition: int) -> None:
    now = newest.get(("track_stories", partition), 0.0)

    def prune(raw: bytes) -> tuple[QuerySeen | None, bool]:
        seen = QuerySeen.loads(raw)
        pruned = seen.pruned(now)
        return (pruned if pruned is not seen else None), bool(pruned.stories)  # None: unchanged, not written again

    _prune(query_seen_table, partition, prune)


@worker_app.timer(interval=settings.story_sweep_seconds)
@survives
async def sweep_stories() -> None:
    """Ask every partition of the three story agents to drop what fell out of the window (tables change only in streams)."""
    now = utcnow().timestamp()
    for partition in range(settings.partitions):
        await _send_to(story_work_topic, encode(StoryWork(kind="sweep", time=now)), partition)
        await _send_to(story_keys_topic, encode(StoryKeyBatch(kind="sweep", time=now)), partition)
        await _send_to(story_updates_topic, encode(StoryUpdate(kind="sweep", time=now)), partition)


async def _send_to(topic: Any, value: bytes, partition: int) -> None:
    await (await topic.send_raw(f"~sweep:{partition}", value, partition))
