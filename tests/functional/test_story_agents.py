"""The three story agents through Faust's test_context(): the messages they exchange, shuttled by hand, give the
same stories as the one-process StoryIndex; articles in flight together still find each other; replays change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import agents.common as common
import agents.story as story
from schemas import EnrichedArticle, StoryWork, encode
from streams.alert.rulefile import make_rule
from streams.story.decide import story_id_for
from streams.story.index import StoryIndex
from tests.recorder import Recorder
from tests.unit.test_stories import stream

TOPICS = ("story_keys_topic", "story_work_topic", "story_updates_topic", "enriched_topic", "mentions_topic", "stories_topic",
          "alerts_topic")  # fmt: skip


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    recorders = {name: Recorder() for name in TOPICS}
    for name, recorder in recorders.items():
        monkeypatch.setattr(story, name, recorder)
    for table in ("story_article_table", "story_key_table", "story_table"):
        monkeypatch.setattr(story, table, {})  # the Faust table's mapping interface, without a changelog
    monkeypatch.setattr(common, "deadletter_topic", Recorder())
    common.rulebook.watchlist.put(make_rule("*", [], kind="breaking", spike_min_mentions=3, spike_window_minutes=120))
    common.rulebook.ready.set()
    yield recorders
    common.rulebook.watchlist = type(common.rulebook.watchlist)()


def drain(recorder: Recorder) -> list[tuple[str, dict[str, Any]]]:
    sent, recorder.sent = recorder.sent, []
    return sent


async def shuttle(wired: dict[str, Any], assign: Any, keys: Any, track: Any) -> None:
    """Deliver every recorded message to its agent until none is left (what Kafka does between the partitions)."""
    while True:
        moved = 0
        for agent, name in ((keys, "story_keys_topic"), (assign, "story_work_topic"), (track, "story_updates_topic")):
            for key, value in drain(wired[name]):
                await agent.put(key=key, value=orjson.dumps(value))
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
            await assign.put(key=one.article.id, value=work(one))
            await shuttle(wired, assign, keys, track)
        enriched = drain(wired["enriched_topic"])
        assert [value["story_id"] for _, value in enriched] == expected == [story_id_for(a) for a in ("a1", "b1", "a1", "a1")]
        stories = drain(wired["stories_topic"])
        assert [key for key, _ in stories] == expected  # one record per article of a story, keyed by story id
        assert stories[-1][1]["article_count"] == 3 and stories[-1][1]["source_count"] == 3
        breaking = drain(wired["alerts_topic"])
        assert [(value["kind"], value["story_id"], value["source_count"]) for _, value in breaking] == [("breaking", expected[0], 3)]
        # a replay of every article: the same stories, no probe, no new story record, no alert
        for one in articles:
            await assign.put(key=one.article.id, value=work(one))
            await shuttle(wired, assign, keys, track)
        assert [value["story_id"] for _, value in drain(wired["enriched_topic"])] == expected
        assert drain(wired["stories_topic"]) == [] and drain(wired["alerts_topic"]) == []
    assert set(story.story_table) == {expected[0], expected[1]}


async def test_articles_in_flight_together_find_each_other(wired: dict[str, Any]) -> None:
    articles = [one for one in stream() if one.article.id.startswith("a")]  # the three outlets of one story
    async with story.assign_stories.test_context() as assign, story.match_story_keys.test_context() as keys, \
            story.track_stories.test_context() as track:  # fmt: skip
        for one in articles:  # all three arrive before any key has answered (a backlog)
            await assign.put(key=one.article.id, value=work(one))
        await shuttle(wired, assign, keys, track)
    enriched = {value["article"]["id"]: value["story_id"] for _, value in drain(wired["enriched_topic"])}
    # the first article's pending entry at the keys is the story the others join: one story, opened by a1
    assert enriched == {"a1": story_id_for("a1"), "a2": story_id_for("a1"), "a3": story_id_for("a1")}


async def test_a_bad_message_is_dead_lettered_and_the_sweep_keeps_what_is_in_the_window(wired: dict[str, Any]) -> None:
    dead = common.deadletter_topic
    async with story.assign_stories.test_context() as assign:
        await assign.put(key="x", value=b'{"schema_version": 1, "kind": "article", "item": 5}')
        await assign.put(key=stream()[0].article.id, value=work(stream()[0]))
        await assign.put(key="~sweep:0", value=encode(StoryWork(kind="sweep")))
    assert len(dead.sent) == 1 and "StoryWork" in dead.sent[0][1]["error"]  # type: ignore[attr-defined]
    assert len(drain(wired["story_keys_topic"])) >= 3  # the good article still sent its probes
