"""Story agents: articles to stories across outlets, partitioned three ways (article id, candidate key, story id).

``assign_stories`` (keyed by article id) sends an article's probes, gathers its keys' answers and decides its story,
then publishes the enriched article and its mentions with the story id and the story's update. ``match_story_keys``
(keyed by candidate key) answers probes and records registrations. ``track_stories`` (keyed by story id) keeps the
story, publishes ``wirewatch.stories``, registers the article at its keys and evaluates breaking rules. No partition
sees every article. A timer asks every partition to drop what fell out of the window.
"""

from __future__ import annotations

import logging
from typing import Any

from agents.common import Outbox, decode_or_dead_letter, delivered, guarded, health, on_partition, publish, rulebook, settings
from schemas import StoryKeyMessage, StoryUpdate, StoryWork, decode, encode
from streams.clock import utcnow
from streams.kafka.apps import worker_app
from streams.kafka.topology import (
    alerts_topic,
    enriched_topic,
    mentions_topic,
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
from streams.story.gather import ArticleStory, OpenedStories
from streams.story.index import registrations
from streams.story.keys import KeyEntries, Snapshot
from streams.story.metrics import ARTICLES_ASSIGNED, STORIES_OPENED
from streams.story.state import StoryState, add_article, new_state, story_record

log = logging.getLogger(__name__)
WINDOW = settings.story_window_hours * 3600.0
#: the key of each partition's count of stories opened (a value of the story-articles table, never an article id)
OPENED_KEY = "~opened:{partition}"
#: the key of an article waiting for its answers (the StoryWork message as it came), beside its ArticleStory value
WORK_KEY = "~work:{article}"
#: the newest article time each agent has seen per partition: what the sweep measures the window from (event time)
newest: dict[tuple[str, int], float] = {}


def _seen(agent: str, partition: int, when: float) -> None:
    newest[(agent, partition)] = max(newest.get((agent, partition), 0.0), when)


@worker_app.agent(story_work_topic)
async def assign_stories(stream):  # type: ignore[no-untyped-def]
    """Enriched articles and their keys' answers → the article's story → ``wirewatch.enriched``, ``.mentions``, ``.storyupdates``."""
    async for event in stream.events():
        health.begin("assign_stories")
        async with guarded("assign_stories", [event]):
            work = await decode_or_dead_letter(event, StoryWork, "assign_stories")
            if work is not None:
                outbox = Outbox()
                partition = event.message.partition
                if work.kind == "sweep":
                    _sweep_articles(partition)
                else:
                    await _assign(work, event.value, partition, outbox)
                await delivered(outbox)  # before the offset is committed
        health.done("assign_stories")


async def _assign(work: StoryWork, raw_work: bytes, partition: int, outbox: Outbox) -> None:
    raw = story_article_table.get(work.article_id)
    state = ArticleStory.loads(raw) if raw is not None else None
    work_key = WORK_KEY.format(article=work.article_id)
    if work.kind == "article":
        state, probes, ready = gather.on_article(state, work)
        article = work
        if not ready:
            # the article is kept apart from its answers: written once, not again with every answer
            story_article_table[work_key] = raw_work
        for probe in probes:
            await outbox.send(story_keys_topic, probe.key, encode(probe))
    elif work.answer is not None:
        state, ready = gather.on_answer(state, work.answer, work.article_id)
        kept = story_article_table.get(work_key) if ready else None
        if ready and kept is None:
            log.error("article %s: every key answered but the article is not kept; it waits for its next copy", work.article_id,
                      extra={"article_id": work.article_id})  # fmt: skip
            ready = False
        article = decode(StoryWork, kept) if kept is not None else work
    else:
        return
    if state is None:
        return  # an answer for an article this partition does not hold (already decided and swept)
    if not ready:
        story_article_table[work.article_id] = state.dumps()
        return
    opened_key = OPENED_KEY.format(partition=partition)
    raw_opened = story_article_table.get(opened_key)
    opened = OpenedStories.loads(raw_opened) if raw_opened is not None else OpenedStories()
    done, outcome = gather.conclude(state, article, opened.count(state.time, WINDOW) * settings.partitions)
    story_article_table[work.article_id] = done.dumps()
    if work_key in story_article_table:
        del story_article_table[work_key]
    _seen("assign_stories", partition, outcome.features.time)
    if outcome.decision is not None:
        ARTICLES_ASSIGNED.inc()
        if outcome.decision.opened:
            STORIES_OPENED.inc()
            story_article_table[opened_key] = opened.opened(outcome.features.time, WINDOW).dumps()
    if outcome.features.suspect_date:
        log.warning("article %s: published %s is in the future; clustered at its fetch time", outcome.item.article.id,
                    outcome.item.article.published, extra={"article_id": outcome.item.article.id})  # fmt: skip
    await outbox.send(enriched_topic, outcome.item.article.id, encode(outcome.item))
    for mention in outcome.mentions:
        await outbox.send(mentions_topic, mention.entity_id, encode(mention))
    await outbox.send(story_updates_topic, outcome.update.story_id, encode(outcome.update))


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
    """Probes and registrations keyed by candidate key → the key's stories; a probe is answered on ``wirewatch.storywork``."""
    async for event in stream.events():
        health.begin("match_story_keys")
        async with guarded("match_story_keys", [event]):
            message = await decode_or_dead_letter(event, StoryKeyMessage, "match_story_keys")
            if message is not None:
                partition = event.message.partition
                if message.kind == "sweep":
                    _sweep_keys(partition)
                else:
                    raw = story_key_table.get(message.key)
                    entries = KeyEntries.loads(raw) if raw is not None else KeyEntries()
                    _seen("match_story_keys", partition, message.time)
                    if message.kind == "probe":
                        answer = entries.answer(message.key, message.article_id)
                        entries = entries.hold(message.article_id, message.story_id, message.weight, message.time, WINDOW)
                        reply = StoryWork(kind="answer", article_id=message.article_id, answer=answer)
                        story_key_table[message.key] = entries.dumps()
                        await publish(story_work_topic, message.article_id, encode(reply))
                    else:
                        snap = Snapshot(size=message.size, norm=message.norm, last=message.last)
                        entries = entries.register(message.article_id, message.story_id, message.weight, message.time, snap, WINDOW)
                        story_key_table[message.key] = entries.dumps()
        health.done("match_story_keys")


def _sweep_keys(partition: int) -> None:
    now = newest.get(("match_story_keys", partition), 0.0)
    for key in [k for k in list(story_key_table.keys()) if on_partition(k, partition)]:
        raw = story_key_table.get(key)
        if raw is None:
            continue
        pruned = KeyEntries.loads(raw).pruned(WINDOW, now)
        if pruned.empty():
            del story_key_table[key]
        else:
            story_key_table[key] = pruned.dumps()


@worker_app.agent(story_updates_topic)
async def track_stories(stream):  # type: ignore[no-untyped-def]
    """Story updates keyed by story id → the story's state → ``wirewatch.stories``, registrations, breaking alerts."""
    async for event in stream.events():
        await rulebook.ready.wait()  # inside the loop, as in raise_alerts: breaking rules come from the rulebook
        health.begin("track_stories")
        async with guarded("track_stories", [event]):
            update = await decode_or_dead_letter(event, StoryUpdate, "track_stories")
            if update is not None:
                partition = event.message.partition
                if update.kind == "sweep":
                    _sweep_stories(partition)
                elif update.article is not None:
                    await _track(update, partition)
        health.done("track_stories")


async def _track(update: StoryUpdate, partition: int) -> None:
    assert update.article is not None  # noqa: S101 - checked by the caller
    raw = story_table.get(update.story_id)
    current = StoryState.loads(raw) if raw is not None else new_state(update.story_id, update.article.time)
    state = add_article(current, update, WINDOW)
    if state is None:
        return  # the article was counted before: a replay or a new revision
    _seen("track_stories", partition, state.last)
    fired, alerts = evaluate_breaking(state, rulebook.watchlist.breaking_rules(), update.article, utcnow())
    state = state.model_copy(update={"fired": fired})
    story_table[update.story_id] = state.dumps()
    outbox = Outbox()
    await outbox.send(stories_topic, state.id, encode(story_record(state)))
    for message in registrations(update, state.snapshot()):
        await outbox.send(story_keys_topic, message.key, encode(message))
    for alert in alerts:
        await outbox.send(alerts_topic, alert.id, encode(alert))
    await delivered(outbox)


def _sweep_stories(partition: int) -> None:
    horizon = newest.get(("track_stories", partition), 0.0) - WINDOW
    for key in [k for k in list(story_table.keys()) if on_partition(k, partition)]:
        raw = story_table.get(key)
        if raw is not None and StoryState.loads(raw).last < horizon:
            del story_table[key]


@worker_app.timer(interval=settings.story_sweep_seconds)
async def sweep_stories() -> None:
    """Ask every partition of the three story agents to drop what fell out of the window (tables change only in streams)."""
    now = utcnow().timestamp()
    for partition in range(settings.partitions):
        await _send_to(story_work_topic, f"~sweep:{partition}", encode(StoryWork(kind="sweep", time=now)), partition)
        await _send_to(story_keys_topic, f"~sweep:{partition}", encode(StoryKeyMessage(kind="sweep", key="", time=now)), partition)
        await _send_to(story_updates_topic, f"~sweep:{partition}", encode(StoryUpdate(kind="sweep", time=now)), partition)


async def _send_to(topic: Any, key: str, value: bytes, partition: int) -> None:
    await (await topic.send_raw(key, value, partition))
