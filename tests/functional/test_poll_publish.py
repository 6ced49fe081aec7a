"""The poller publishes a poll's articles one by one: one Kafka refuses as too large is dead-lettered by reference and
the others go on with the feed's state; any other failure keeps the items unseen and backs the feed off."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

import agents.poll as poll
from schemas import FeedSource, encode
from streams.poll.state import FeedState
from streams.poll.steps import PollOutcome
from tests.factories import article
from tests.recorder import Recorder


class Broker(Recorder):
    """A topic whose broker answers some keys with an error."""

    def __init__(self, errors: dict[str, Exception]) -> None:
        super().__init__()
        self.errors = errors

    async def send_raw(self, key: str, value: bytes) -> asyncio.Future[None]:
        if key not in self.errors:
            return await super().send_raw(key, value)
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        answer.set_exception(self.errors[key])
        return answer


def outcome(before: FeedState) -> PollOutcome:
    articles = [article(f"a{i}", f"Text {i}.") for i in range(3)]
    after = before.model_copy(update={"recent": {a.id: [a.content_hash, 1] for a in articles}, "last_status": "ok"})
    return PollOutcome(after, articles, new=3)


BEFORE = FeedState(source=FeedSource(id="f", url="http://f/"), partition=0)


async def test_an_article_refused_as_too_large_is_dead_lettered_and_the_rest_published(monkeypatch: pytest.MonkeyPatch) -> None:
    topic, dead = Broker({"a1": MessageSizeTooLargeError("over the topic's max.message.bytes")}), Recorder()
    monkeypatch.setattr(poll, "articles_out_topic", topic)
    monkeypatch.setattr(poll, "poller_deadletter_topic", dead)
    result = outcome(BEFORE)
    state = await poll.scheduler.publish("f", BEFORE, result)
    assert state is result.state  # the feed's state is saved: its items count as seen
    assert [key for key, _ in topic.sent] == ["a0", "a2"]
    ((key, letter),) = dead.sent
    value = encode(result.articles[1])
    assert key == "a1" and letter["value_omitted"] and (letter["partition"], letter["offset"]) == (-1, -1)
    assert (letter["size"], letter["sha256"]) == (len(value), hashlib.sha256(value).hexdigest())
    assert "MessageSizeTooLargeError" in letter["error"] and "feed f" in letter["error"]


async def test_a_broker_away_keeps_the_items_unseen_and_backs_the_feed_off(monkeypatch: pytest.MonkeyPatch) -> None:
    topic, dead = Broker({"a2": KafkaTimeoutError()}), Recorder()
    monkeypatch.setattr(poll, "articles_out_topic", topic)
    monkeypatch.setattr(poll, "poller_deadletter_topic", dead)
    state = await poll.scheduler.publish("f", BEFORE, outcome(BEFORE))
    assert state.recent == {} and state.error_count == 1 and state.last_status == "error"  # published again next poll
    assert state.last_error is not None and state.last_error.startswith("publish: 1 article(s) not published: KafkaTimeoutError")
    assert state.next_check >= time.time() + 30  # the error backoff, not the next tick
    assert dead.sent == []
