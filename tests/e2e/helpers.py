"""Real processes and real servers for end-to-end and chaos tests: loopback feed servers, webhook receiver, the
Wirewatch stack, the poller's feed states on the broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Hashable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streams.config import Settings
from streams.kafka.client import compacted_state, read_topic, topic_partitions
from streams.lifetime import die_with_parent
from streams.poll.health import feed_state_topic, table_key
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
K = TypeVar("K", bound=Hashable)


def serve_loopback(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Serve ``handler`` on a free loopback port from a daemon thread (its request threads daemons too: a request
    left hanging never holds the test process); stop it with ``shutdown()``."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def answer_feed(handler: BaseHTTPRequestHandler, body: bytes, etag: str, content_type: str = "application/rss+xml") -> None:
    """Answer a feed request as a caching server does: 304 when the client already holds ``etag``, else ``body``."""
    if handler.headers.get("If-None-Match") == etag:
        handler.send_response(304)
        handler.send_header("ETag", etag)  # no Content-Length: a 304 has no body by its status (RFC 9110, 15.4.5)
        handler.end_headers()
        return
    handler.send_response(200)
    handler.send_header("ETag", etag)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def rss_feed(title: str, items: str) -> bytes:
    """An RSS 2.0 document titled ``title`` holding ``items`` (``<item>`` elements)."""
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>'.encode()


class FeedServer:
    """Serves ``{path: bytes}`` on loopback with ETags and counts requests per path; HTML and 500s on demand."""

    def __init__(self, feeds: dict[str, bytes]) -> None:
        self.feeds = feeds
        self.requests: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests[self.path] = server.requests.get(self.path, 0) + 1
                body = server.feeds.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                html = body.lstrip().startswith(b"<!DOCTYPE html")
                answer_feed(self, body, f'"{hash(body) & 0xFFFFFFFF:x}"', "text/html" if html else "application/rss+xml")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = serve_loopback(Handler)
        self.port = self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()


class WebhookReceiver:
    """Records every POST (headers and body) and answers ``status``, which a test may change."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = serve_loopback(Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    @property
    def ids(self) -> list[str]:
        """The ``webhook-id`` of every request, in arrival order."""
        return [headers.get("webhook-id", "") for headers, _ in self.received]

    def close(self) -> None:
        self.httpd.shutdown()


def stack_env(settings: Settings, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update(
        {
            "WIREWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "WIREWATCH_TOPIC_PREFIX": settings.topic_prefix,
            "WIREWATCH_APP_PREFIX": settings.app_prefix,
            "WIREWATCH_DATA_DIR": str(settings.data_dir),
            "WIREWATCH_SQLITE_PATH": str(settings.sqlite_path),
            "WIREWATCH_FETCH_ALLOW_HOSTS": "127.0.0.1/32",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``wirewatch`` command."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def start(role: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", role],
        env=env,
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,  # noqa: PLW1509 - an interrupted test run leaves no worker behind
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 120) -> int:
    """SIGTERM the process and wait for its clean exit (its code); -9 if it had to be killed. A worker's clean stop
    commits offsets and flushes its tables, which on a loaded two-core machine has taken more than 40 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return -9
    return process.returncode


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float = 120.0,
    interval: float = 0.5,
    processes: list[subprocess.Popen[bytes]] | None = None,
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes or []:
            if process.poll() is not None:
                raise AssertionError(f"while waiting for {what}: a process exited with {process.returncode}")
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped by init, counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def rss(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test URL
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def committed_to_end(settings: Settings, group: str, *topics: str) -> bool:
    """Whether consumer group ``group`` has committed every partition of ``topics`` (suffixes) up to its end offset.

    Read from the broker at the moment of the call: every message on those topics before it has been processed
    (Faust commits an offset only after its agents are done with it), so nothing more can come of them.
    """

    async def check() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            partitions = [tp for topic in topics for tp in await topic_partitions(consumer, settings.topic(topic))]
            end = await consumer.end_offsets(partitions)
            committed = {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
            return bool(partitions) and all(committed.get(tp, 0) >= offset for tp, offset in end.items())
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(check())


KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"


def local_kafka_jars() -> Path | None:
    """Where ``deploy/kafka/kafka.sh`` finds the broker's jars (KAFKA_HOME, else the checkout's own copy); None if nowhere."""
    home = os.environ.get("KAFKA_HOME")
    if home:
        return Path(home) / "libs" if (Path(home) / "libs").is_dir() else None
    jars = ROOT / ".local" / "kafka" / "lib"
    return jars if (jars / ".wirewatch-complete").is_file() else None


class OwnBroker:
    """A Kafka broker of the test's own (``deploy/kafka/kafka.sh`` on free ports, its state in ``state_dir``).

    Tests that kill the broker use this one: other tests share the broker on 127.0.0.1:9092 at the same time, so
    that one is never killed or restarted. Needs java and the jars ``kafka.sh start`` resolved (``make test`` does).
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "WIREWATCH_KAFKA_PORT": str(self.port),
            "WIREWATCH_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "WIREWATCH_KAFKA_STATE_DIR": str(state_dir),
            "WIREWATCH_KAFKA_START_TIMEOUT": "180",  # a loaded two-core machine starts a JVM slowly
            # a small broker: the test's topics need little, and the machine is shared
            "WIREWATCH_KAFKA_JVM_OPTS": "-Xmx512m",
        }

    def _run(self, command: str) -> float:
        started = time.monotonic()
        done = subprocess.run(["bash", str(KAFKA_SH), command], env=self.env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise AssertionError(f"kafka.sh {command} failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
        return time.monotonic() - started

    def start(self) -> float:
        """Start (or restart) the broker and wait until it serves metadata; the seconds it took."""
        return self._run("start")

    def kill(self) -> float:
        """SIGKILL the broker (``kafka.sh kill``) and wait until its ports are free; the seconds it took."""
        return self._run("kill")

    def stop(self) -> None:
        self._run("stop")


def committed_offsets(settings: Settings, group: str) -> dict[tuple[str, int], int]:
    """The offsets consumer group ``group`` has committed, per (topic, partition), read from the broker."""

    async def read() -> dict[tuple[str, int], int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            return {(tp.topic, tp.partition): meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
        finally:
            await admin.close()

    return asyncio.run(read())


def reset_group_to_start(settings: Settings, group: str, *topics: str) -> dict[tuple[str, int], int]:
    """Commit consumer group ``group`` back to the start of every partition of ``topics`` (suffixes): a replay.

    What ``kafka-consumer-groups --reset-offsets --to-earliest`` does, for a group with no running member (stop its
    workers first; the broker refuses a commit outside the generation of a live group). The same group then reads
    everything again with its tables as they are, which is what the replay row of RELIABILITY.md asks; a new
    ``WIREWATCH_APP_PREFIX`` would replay with empty tables instead. Returns the offsets committed.
    """

    async def reset() -> dict[tuple[str, int], int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [tp for topic in topics for tp in await topic_partitions(consumer, settings.topic(topic))]
            start = await consumer.beginning_offsets(partitions)
            consumer.assign(partitions)
            await consumer.commit({tp: offset for tp, offset in start.items()})
            return {(tp.topic, tp.partition): offset for tp, offset in start.items()}
        finally:
            await consumer.stop()

    return asyncio.run(reset())


def counted(settings: Settings, topic: str, key_of: Callable[[Any], K]) -> Counter[K]:
    """How often each ``key_of(value)`` occurs on ``topic`` (a suffix), the values JSON-decoded, tombstones passed over."""

    async def collect() -> Counter[K]:
        return Counter([key_of(orjson.loads(value)) async for _, value in read_topic(settings, topic) if value])

    return asyncio.run(collect())


def feed_states(settings: Settings) -> dict[str, bytes]:
    """The poller's feed-state changelog, latest raw value per feed id (undecodable ones included)."""
    raw, topic = feed_state_topic(settings)
    return {table_key(key): value for key, value in asyncio.run(compacted_state(raw, topic)).items()}


def write_feed_state(settings: Settings, feed_id: str, value: bytes, partition: int | None = None) -> None:
    """Put bytes on the feed-state changelog as the poller's table writes them (Faust JSON-encodes table keys)."""
    _, topic = feed_state_topic(settings)

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(topic, key=orjson.dumps(feed_id), value=value, partition=partition)
        finally:
            await producer.stop()

    asyncio.run(go())
