"""Alert rule evaluation throughput with 10,000 watched names: gazetteer over real articles and rules per mention."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from schemas import Article, Mention, encode
from streams import ids
from streams.alert.mentions import EntitySeen, evaluate_mention
from streams.alert.rulefile import make_rule
from streams.config import Settings
from streams.enrich.fingerprint import sketch
from streams.enrich.gazetteer import Watchlist, watched_entity_id
from streams.errors import BrokerUnavailable
from streams.kafka.admin import delete_topics, ensure_topics
from streams.kafka.client import publish

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
KINDS = ("new_mention", "mention", "spike", "co_mention")


def watchlist_of(count: int) -> Watchlist:
    """``count`` watched entities, each with an alias, spread over the rule kinds."""
    rules = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        other = {"name": f"Partner Org {i}"} if kind == "co_mention" else None
        rules.append(
            make_rule(
                f"Watched Person {i}", [f"W. Person{i}"], "PERSON", kind=kind, other=other, min_sources=1 + (i % 3 == 0 and kind != "spike")
            )
        )
    return Watchlist(rules)


def bench_rules(entities: int = 10_000, mentions: int = 20_000, articles: int = 300) -> dict[str, float]:
    """Gazetteer articles/s over real BBC texts and rule evaluation mentions/s (state decoded and encoded as the agent does)."""
    watchlist = watchlist_of(entities)
    paths = sorted((DATA / "articles" / "bbc-news" / "bbc").rglob("*.txt"))[:articles]
    texts = [p.read_bytes().decode("utf-8", "replace") for p in paths]
    # plant watched names in the real texts so the automaton has hits to report
    rnd = random.Random(7)
    texts = [f"{t} Watched Person {rnd.randrange(entities)} said so." for t in texts]
    watchlist.find("warm up")
    started = time.perf_counter()
    hits = sum(len(watchlist.find(text)) for text in texts)
    gazetteer_s = time.perf_counter() - started

    rules = list(watchlist.rules.values())
    by_entity = {watched_entity_id(rule.entity): rule for rule in rules}
    entity_ids = list(by_entity)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    sketches = [sketch("", text[:2000]) for text in texts]
    stream = []
    for n in range(mentions):
        entity = entity_ids[rnd.randrange(len(entity_ids)) if n % 2 else rnd.randrange(200)]  # half on 200 hot entities
        story = rnd.randrange(mentions // 3)  # copies: about three per story
        when = t0 + timedelta(seconds=n * 3)
        text = texts[story % len(texts)]
        stream.append(
            Mention(
                id=ids.mention_id(entity, str(n)), entity_id=entity, name="Watched", type="PERSON", watch_ids=[by_entity[entity].id],
                article_id=f"art-{n}", feed_id=f"feed-{n % 7}", url=f"https://source{n % 7}.example/{story}", title=f"Story {story}",
                sentence=text[:200], sentence_start=0, start=0, end=7, published=when, fetched=when, content_hash=f"h{story}", story_id=f"story-{story}",
                sketch=sketches[story % len(texts)], co_entity_ids=[entity_ids[(story * 7) % len(entity_ids)]],
            )
        )  # fmt: skip
    table: dict[str, bytes] = {}
    fired = 0
    started = time.perf_counter()
    for mention in stream:
        raw = table.get(mention.entity_id)
        seen = EntitySeen.loads(raw) if raw is not None else None
        rule = watchlist.rules[mention.watch_ids[0]]
        seen, alerts = evaluate_mention(mention, seen, [rule], mention.fetched, 30)
        fired += len(alerts)
        table[mention.entity_id] = seen.dumps()
    rules_s = time.perf_counter() - started
    return {"entities": entities, "names": entities * 2, "articles": len(texts), "hits": hits, "gazetteer_articles_s": len(texts) / gazetteer_s,
            "mentions": mentions, "alerts": fired, "mentions_s": mentions / rules_s}  # fmt: skip


class Receiver:
    """A loopback webhook noting when each alert arrived, with the fetch and detection times it carries."""

    def __init__(self) -> None:
        self.latencies: dict[str, float] = {}
        #: alert id → (article id, fetched, detected, arrived) in unix seconds, for the per-hop figures
        self.times: dict[str, tuple[str, float, float, float]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                arrived = time.time()
                alert = orjson.loads(body)
                fetched = datetime.fromisoformat(alert["fetched"]).timestamp()
                detected = datetime.fromisoformat(alert["detected"]).timestamp()
                receiver.latencies.setdefault(alert["id"], arrived - fetched)
                receiver.times.setdefault(alert["id"], (alert["article_id"], fetched, detected, arrived))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_latency(rate: float, count: int = 120, entities: int = 1000, overrides: dict[str, str] | None = None) -> dict[str, float] | None:
    """Fetch time → webhook receipt through a real worker (enrich, raise_alerts, deliver) at ``rate`` articles/s.

    Articles are produced straight to ``wirewatch.articles`` stamped with their fetch time, so the figure
    excludes the wait for the next poll (and the poller's own parse), as the issue asks. Each real BBC text
    gets one sentence naming one of the watched people, each a different one, so every article raises a
    ``mention`` alert. ``overrides`` are extra ``WIREWATCH_*`` variables for the worker (to compare settings).
    Returns None when no broker answers.
    """
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    data_dir = Path(tempfile.mkdtemp(prefix="wirewatch-bench-"))
    settings = Settings(topic_prefix=f"{namespace}.", app_prefix=namespace, data_dir=data_dir, sqlite_path=data_dir / "w.db")
    rules = [make_rule(f"Watched Person {i}", [f"W. Person{i}"], "PERSON", kind="mention") for i in range(entities)]
    paths = sorted((DATA / "articles" / "bbc-news" / "bbc").rglob("*.txt"))[:count]
    try:
        asyncio.run(ensure_topics(settings))
    except BrokerUnavailable:
        return None
    asyncio.run(publish(settings, "rules", [(rule.id, rule) for rule in rules]))
    receiver = Receiver()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update({"WIREWATCH_TOPIC_PREFIX": settings.topic_prefix, "WIREWATCH_APP_PREFIX": namespace, "WIREWATCH_DATA_DIR": str(data_dir),
                "WIREWATCH_SQLITE_PATH": str(data_dir / "w.db"), "WIREWATCH_WEBHOOK_URL": receiver.url,
                "WIREWATCH_FETCH_ALLOW_HOSTS": "127.0.0.1/32", "WIREWATCH_WEB_PORT": str(_free_port()), "WIREWATCH_LOG_LEVEL": "WARNING"})  # fmt: skip
    env.update(overrides or {})
    log = (data_dir / "worker.log").open("ab")
    worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    enriched: dict[str, float] = {}
    try:
        asyncio.run(_warm_up(settings, receiver, worker))
        asyncio.run(_produce(settings, paths, rate))
        deadline = time.monotonic() + 120
        while len(receiver.latencies) < len(paths) + 1 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
        enriched = asyncio.run(_enriched_times(settings))
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        receiver.httpd.shutdown()
        log.close()
        if len(receiver.latencies) <= 1:
            print((data_dir / "worker.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        shutil.rmtree(data_dir, ignore_errors=True)
        with contextlib.suppress(Exception):  # throwaway topics: left behind, every run adds ~150 partitions
            asyncio.run(delete_topics(settings))
    latencies = [v for k, v in receiver.latencies.items() if k != "warm-up"]
    if not latencies:
        return None
    hops: dict[str, list[float]] = {"enrich": [], "alert": [], "deliver": []}
    for alert_id, (article_id, fetched, detected, arrived) in receiver.times.items():
        if alert_id != "warm-up" and article_id in enriched:
            hops["enrich"].append(enriched[article_id] - fetched)  # articles topic, take window, NLP
            hops["alert"].append(detected - enriched[article_id])  # sends, mentions topic, raise_alerts
            hops["deliver"].append(arrived - detected)  # alerts topic, deliver agent, HTTP
    figures = {"articles": len(paths), "alerts": len(latencies), "rate": rate, "entities": entities,
               "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}  # fmt: skip
    for hop, values in hops.items():
        if values:
            figures[f"{hop}_p50"] = percentile(values, 0.5)
            figures[f"{hop}_p99"] = percentile(values, 0.99)
    return figures


async def _enriched_times(settings: Settings) -> dict[str, float]:
    """Article id → when the enrich agent finished it (the ``enriched`` stamp on wirewatch.enriched)."""
    from streams.kafka.client import read_topic

    found: dict[str, float] = {}
    async for _, value in read_topic(settings, "enriched"):
        if value:
            record = orjson.loads(value)
            found[record["article"]["id"]] = datetime.fromisoformat(record["enriched"]).timestamp()
    return found


def _article(text: str, title: str, n: int) -> Article:
    now = datetime.now(tz=UTC)
    url = f"https://bench.example/{n}"
    return Article(id=ids.stable_id("bench", str(n), str(now)), feed_id="bench", feed_url="https://bench.example/rss", url=url,
                   canonical_url=url, title=title, text=text, published=now, fetched=now, content_hash=ids.content_hash(text))  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _warm_up(settings: Settings, receiver: Receiver, worker: subprocess.Popen[bytes]) -> None:
    """One article first, so the model load and partition assignment are not counted; waits for its alert."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        article = _article("Watched Person 999 opened the bench.", "Warm-up", -1)
        await producer.send_and_wait(settings.topic("articles"), key=article.id.encode(), value=encode(article))
    finally:
        await producer.stop()
    deadline = time.monotonic() + 180
    while not receiver.latencies and time.monotonic() < deadline and worker.poll() is None:
        await asyncio.sleep(0.2)
    if not receiver.latencies:
        raise RuntimeError("the worker raised no warm-up alert; its log follows")
    receiver.latencies = {"warm-up": 0.0} if receiver.latencies else {}


async def _produce(settings: Settings, paths: list[Path], rate: float) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        started = time.monotonic()
        for n, path in enumerate(paths):
            title, _, body = path.read_bytes().decode("utf-8", "replace").partition("\n")
            article = _article(f"{body.strip()} Watched Person {n} was named in this report.", title.strip(), n)
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            await producer.send_and_wait(settings.topic("articles"), key=article.id.encode(), value=encode(article))
    finally:
        await producer.stop()


def main() -> int:
    if not DATA.exists():
        print(f"benchmarks read real data from {DATA}; it is not there", file=sys.stderr)
        return 1
    figures = bench_rules()
    print(
        f"10,000 watched entities ({figures['names']:.0f} names): gazetteer {figures['gazetteer_articles_s']:.0f} articles/s, "
        f"rules {figures['mentions_s']:.0f} mentions/s ({figures['alerts']:.0f} alerts from {figures['mentions']:.0f} mentions)"
    )
    # usage: python -m benchmarks.bench_alerts [RATE] [WIREWATCH_SETTING=VALUE ...] (settings for the worker)
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    overrides = dict(arg.split("=", 1) for arg in sys.argv[2:])
    latency = bench_latency(rate, overrides=overrides)
    if latency is None:
        print("poll-to-alert latency: no Kafka broker answered (bash deploy/kafka/kafka.sh start)")
    else:
        print(
            f"fetch-to-webhook latency at {rate:g} articles/s, {latency['alerts']:.0f} alerts: p50 {latency['p50']:.2f} s, p99 {latency['p99']:.2f} s"
        )
        hops = [f"{hop} p50 {latency[f'{hop}_p50']:.2f} / p99 {latency[f'{hop}_p99']:.2f} s" for hop in ("enrich", "alert", "deliver")
                if f"{hop}_p50" in latency]  # fmt: skip
        if hops:
            print("  per hop: " + "; ".join(hops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
