"""One entity across articles through the real poller and worker: three articles on a loopback feed name "Ana Lucía
Ferreira", then "Ferreira", then "Dr. Ferreira" → one registry entity, one id on every mention, one new_mention alert."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.config import Settings
from tests.conftest import free_port
from tests.e2e.helpers import FeedServer, cli, stack_env, start, stop, wait_for
from tests.e2e.test_pipeline import topic_values

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

# invented articles (published a day apart, recently: the registry's activity window counts from them)
ITEMS = [
    ("ferreira-1", "Porto Alegre opens its new harbour", "Mon, 30 Nov 2026 09:00:00 GMT",
     "Ana Lucía Ferreira, the mayor of Porto Alegre, opened the new harbour on Monday before a crowd of dock workers."),
    ("ferreira-2", "Harbour to bring work, mayor says", "Mon, 30 Nov 2026 15:00:00 GMT",
     "Ferreira said the harbour would bring two thousand jobs to the city within a year."),
    ("ferreira-3", "Engineers thanked at harbour ceremony", "Tue, 01 Dec 2026 08:00:00 GMT",
     "Dr. Ferreira thanked the engineers who built the harbour and promised a second quay."),
]  # fmt: skip


def feed(count: int) -> bytes:
    items = "".join(
        f'<item><title>{title}</title><link>http://127.0.0.1/harbour/{guid}</link><guid isPermaLink="false">{guid}</guid>'
        f"<pubDate>{date}</pubDate><description>{text}</description></item>"
        for guid, title, date, text in ITEMS[:count]
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Harbour News</title>{items}</channel></rss>'.encode()


@pytest.mark.timeout(900)
def test_three_articles_naming_ferreira_give_one_registry_entity_one_id_and_one_alert(kafka_settings: Settings, tmp_path: Path) -> None:
    feeds = FeedServer({"/harbour.xml": feed(1)})
    env = stack_env(
        kafka_settings,
        {
            "WIREWATCH_POLL_INTERVAL_SECONDS": "2",
            "WIREWATCH_POLL_MIN_INTERVAL_SECONDS": "1",
            "WIREWATCH_POLL_MAX_INTERVAL_SECONDS": "3",
            "WIREWATCH_POLL_TICK_SECONDS": "0.5",
            "WIREWATCH_WEB_PORT": str(free_port()),
            "WIREWATCH_POLLER_WEB_PORT": str(free_port()),
            "WIREWATCH_ALERTS_FILE": str(tmp_path / "alerts.jsonl"),
        },
    )
    assert cli(env, "feeds", "add", feeds.url("/harbour.xml")).returncode == 0
    watched = cli(env, "watch", "add", "Ferreira", "--type", "PERSON")
    assert watched.returncode == 0, watched.stderr

    def mentions() -> list[dict[str, object]]:
        found = [orjson.loads(value) for _, value in topic_values(kafka_settings, "mentions") if value]
        return [m for m in found if "Ferreira" in str(m["sentence"][m["start"] - m["sentence_start"] : m["end"] - m["sentence_start"]])]  # type: ignore[index,operator]

    processes = [start("poller", env, tmp_path / "poller.log"), start("worker", env, tmp_path / "worker.log")]
    try:
        # one article at a time, in order: each is resolved against the registry the ones before it built
        for count in (1, 2, 3):
            feeds.feeds["/harbour.xml"] = feed(count)
            wait_for(f"mention of article {count}", lambda n=count: len({m["article_id"] for m in mentions()}) >= n, 240,  # type: ignore[misc]
                     processes=processes)  # fmt: skip
        found = mentions()
        assert len({m["article_id"] for m in found}) == 3
        assert len({m["entity_id"] for m in found}) == 1, [(m["name"], m["entity_id"]) for m in found]

        def registry_entry() -> dict[str, object] | None:
            shown = cli(env, "entities", "show", "Ferreira", "--json")
            if shown.returncode != 0:
                return None
            entry = orjson.loads(shown.stdout)
            return entry if entry.get("mentions", 0) >= 3 else None

        entry = wait_for("the registry entity with three mentions", registry_entry, 120, processes=processes)
        assert entry["id"] == found[0]["entity_id"]
        assert {"Ferreira", "Ana Lucía Ferreira"} <= set(entry["variants"])  # type: ignore[arg-type]

        def alerts() -> list[dict[str, object]]:
            return [orjson.loads(value) for _, value in topic_values(kafka_settings, "alerts") if value]

        wait_for("the new_mention alert", alerts, 120, processes=processes)
    finally:
        codes = [stop(process) for process in processes]
        feeds.close()
    assert codes == [0, 0], f"exit codes {codes}; logs in {tmp_path}"
    fired = alerts()
    assert len(fired) == 1 and fired[0]["kind"] == "new_mention", fired
    registry = [orjson.loads(value) for _, value in topic_values(kafka_settings, "entities") if value]
    assert len({r["id"] for r in registry if "ferreira" in str(r["name"]).casefold() and not r.get("merged_into")}) == 1
