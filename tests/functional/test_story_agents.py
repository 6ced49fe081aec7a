"""The three story agents through Faust's test_context(): the messages they exchange, shuttled by hand, give the
same stories as the one-process StoryIndex; articles in flight together still find each other; replays change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import agents.common as common
import agents.story as story
from schemas import EnrichedArticle, StoryKeyBatch, StoryUpdate, StoryWork, encode
from streams.alert.rulefile import make_rule
from streams.kafka.partitioning import key_partition
from streams.story.decide import story_id_for
from streams.story.index import StoryIndex
from tests.recorder import Recorder
from tests.unit.test_stories import item, stream

TOPICS = ("story_keys_topic", "story_work_topic", "story_updates_topic", "enriched_topic", "mentions_topic", "stories_topic",
          "alerts_topic")  # fmt: skip


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    recorders = {name: Recorder() for name in TOPICS}
    taken.clear()
    put.clear()
    for name, recorder in recorders.items():
        monkeypatch.setattr(story, name, recorder)
    for name in ("assign_batch", "keys_batch", "track_batch"):  # count what each agent's batches took (see settled)
        monkeypatch.setattr(story, name, counted(getattr(story, name), name))
    for table in ("story_article_table", "story_key_table", "story_table", "query_seen_table"):
        monkeypatch.setattr(story, table, {})  # the Faust table's mapping interface, without a changelog
    monkeypatch.setattr(story, "newest", {})  # the sweeps' clock, per test
    monkeypatch.setattr(common, "deadletter_topic", Recorder())
    common.rulebook.watchlist.put(make_rule("*", [], kind="breaking", spike_min_mentions=3, spike_window_minutes=120))
    common.rulebook.apply(QUERY.id, encode(QUERY))
    common.rulebook.ready.set()
    yield recorders
    common.rulebook.watchlist = type(common.rulebook.watchlist)()
    common.rulebook.queries.remove(QUERY.id)


#: a query rule matching the three outlets' story (each names Elkhorn) and not the other
QUERY = make_rule("", [], kind="query", query="Elkhorn")


#: messages each agent's batches took so far (the agents batch: a put returns before its batch is processed)
taken: dict[str, int] = {}
put: dict[str, int] = {}


def counted(batch: Any, name: str) -> Any:
    async def counting(events: list[Any], outbox: Any) -> None:
        await batch(events, outbox)
        taken[name] = taken.get(name, 0) + len(events)

    return counting


async def settled() -> None:
    """Until every message put to an agent was taken by one of its batches (and its outputs recorded)."""
    for _ in range(1000):
        if all(taken.get(name, 0) >= count for name, count in put.items()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the agents did not take what was put: {taken} of {put}")


async def deliver(agent: Any, name: str, key: str, value: bytes, partition: int | None = None) -> None:
    put[name] = put.get(name, 0) + 1
    await agent.put(key=key, value=value, partition=partition if partition is not None else key_partition(key, common.settings.partitions))


def drain(recorder: Recorder) -> list[tuple[str, dict[str, Any]]]:
    sent, recorder.sent, recorder.partitions = recorder.sent, [], []
    return sent


def drain_addressed(recorder: Recorder) -> list[tuple[str, dict[str, Any], int | None]]:
    partitions = recorder.partitions
    return [(key, value, partition) for (key, value), partition in zip(drain(recorder), partitions, strict=True)]


async def shuttle(wired: dict[str, Any], assign: Any, keys: Any, track: Any) -> None:
    """Deliver every recorded message to its agent until none is left (what Kafka does between the partitions)."""
    while True:
        await settled()
        moved = 0
        for agent, name, batch in ((keys, "story_keys_topic", "keys_batch"), (assign, "story_work_topic", "assign_batch"),
                                   (track, "story_updates_topic", "track_batch")):  # fmt: skip
            for key, value, partition in drain_addressed(wired[name]):
                # a batch goes to the partition it names; a keyed message to its key's, as Kafka's partitioner places it
                await deliver(agent, batch, key, orjson.dumps(value), partition)
                moved += 1
        if not moved:
            return


def work(item: EnrichedArticle) -> bytes:
    return encode(StoryWork(kind="article", article_id=item.article.id, item=item))


async def test_agents_give_the_stories_of_the_index_and_publish_everything(wired: dict[str, Any]) -> None:
    articles = stream()
    fresh = StoryIndex()
    expected = [fresh.add(one).outcome.item.story_id for one in articles]
    async with story.assign_stories.test_context() as assign, story.match_story_keys.test_context() as keys, \
            story.track_stories.test_context() as track:  # fmt: skip
        for one in articles:  # one at a time: nothing in flight together
            await deliver(assign, "assign_batch", one.article.id, work(one))
            await shuttle(wired, assign, keys, track)
        enriched = drain(wired["enriched_topic"])
        assert [value["story_id"] for _, value in enriched] == expected == [story_id_for(a) for a in ("a1", "b1", "a1", "a1")]
        stories = drain(wired["stories_topic"])
        assert [key for key, _ in stories] == expected  # one record per article of a story, keyed by story id
        assert stories[-1][1]["article_count"] == 3 and stories[-1][1]["source_count"] == 3
        alerts = [(value["kind"], value["story_id"], value["source_count"], value["update"]) for _, value in drain(wired["alerts_topic"])]
        first = expected[0]
        assert sorted(alerts) == [("breaking", first, 3, False), ("query", first, 1, False), ("query", first, 2, True),
                                  ("query", first, 3, True)]  # fmt: skip
        # a replay of every article: the same stories, no probe, no new story record, no alert
        for one in articles:
            await deliver(assign, "assign_batch", one.article.id, work(one))
            await shuttle(wired, assign, keys, track)
        assert [value["story_id"] for _, value in drain(wired["enriched_topic"])] == expected
        assert drain(wired["stories_topic"]) == [] and drain(wired["alerts_topic"]) == []
        assert set(story.story_table) == {expected[0], expected[1]}
        assert set(story.query_seen_table) == {QUERY.id}  # the rule's memory, keyed by its id on its partition
        # the sweep keeps the rule's memory while its story may still grow, and drops it a week after its last match
        partition = key_partition(QUERY.id, common.settings.partitions)
        await deliver(track, "track_batch", f"~sweep:{partition}", encode(StoryUpdate(kind="sweep")), partition)
        await settled()
        assert set(story.query_seen_table) == {QUERY.id}
        story.newest[("track_stories", partition)] += 8 * 86_400
        await deliver(track, "track_batch", f"~sweep:{partition}", encode(StoryUpdate(kind="sweep")), partition)
        await settled()
        assert story.query_seen_table == {}
        # the keys' sweep: entries older than the window are pruned, and a key left without one is deleted
        held = {key for key in story.story_key_table if key_partition(key, common.settings.partitions) == partition}
        assert held
        story.newest[("match_story_keys", partition)] = story.newest.get(("match_story_keys", partition), 0.0) + 4 * 86_400
        await deliver(keys, "keys_batch", f"~sweep:{partition}", encode(StoryKeyBatch(kind="sweep")), partition)
        await settled()
        assert not held & set(story.story_key_table)


async def test_articles_in_flight_together_find_each_other(wired: dict[str, Any]) -> None:
    articles = [one for one in stream() if one.article.id.startswith("a")]  # the three outlets of one story
    async with story.assign_stories.test_context() as assign, story.match_story_keys.test_context() as keys, \
            story.track_stories.test_context() as track:  # fmt: skip
        for one in articles:  # all three arrive before any key has answered (a backlog)
            await deliver(assign, "assign_batch", one.article.id, work(one))
        await shuttle(wired, assign, keys, track)
    enriched = {value["article"]["id"]: value["story_id"] for _, value in drain(wired["enriched_topic"])}
    # the first article's pending entry at the keys is the story the others join: one story, opened by a1
    assert enriched == {"a1": story_id_for("a1"), "a2": story_id_for("a1"), "a3": story_id_for("a1")}


async def test_a_bad_message_is_dead_lettered_and_the_sweep_keeps_what_is_in_the_window(wired: dict[str, Any]) -> None:
    dead = common.deadletter_topic
    async with story.assign_stories.test_context() as assign:
        await deliver(assign, "assign_batch", "x", b'{"schema_version": 1, "kind": "article", "item": 5}')
        await deliver(assign, "assign_batch", stream()[0].article.id, work(stream()[0]))
        await deliver(assign, "assign_batch", "~sweep:0", encode(StoryWork(kind="sweep")), 0)
        await settled()
    assert len(dead.sent) == 1 and "StoryWork" in dead.sent[0][1]["error"]  # type: ignore[attr-defined]
    assert len(drain(wired["story_keys_topic"])) >= 3  # the good article still sent its probes


async def test_a_burst_split_in_two_is_linked_on_both_stories_records(wired: dict[str, Any]) -> None:
    # one market day opened as two stories (their first headlines share no word); the third article would join either
    titles = ["Wall Street slips on weak China exports", "Asian shares slide ahead of Bank of Japan",
              "Asian shares slide, Wall Street slips on weak China exports"]  # fmt: skip
    articles = [item(f"m{n}", title, n, f"s{n}.example") for n, title in enumerate(titles)]
    async with story.assign_stories.test_context() as assign, story.match_story_keys.test_context() as keys, \
            story.track_stories.test_context() as track:  # fmt: skip
        for one in articles:
            await deliver(assign, "assign_batch", one.article.id, work(one))
            await shuttle(wired, assign, keys, track)
    first, second = story_id_for("m0"), story_id_for("m1")
    records = {key: value for key, value in drain(wired["stories_topic"])}  # the latest record of each story
    assert records[first]["linked_story_ids"] == [second] and records[second]["linked_story_ids"] == [first]
    index = StoryIndex()  # the one-process index links them the same way
    for one in articles:
        index.add(one)
    assert index.stories[first].linked == [second] and index.stories[second].linked == [first]
