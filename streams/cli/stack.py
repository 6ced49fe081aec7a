"""``wirewatch run`` and ``wirewatch demo``: sample feeds, a poller and a worker, alerts and counts on screen."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from schemas import FeedSource
from streams import ids
from streams.alert.rulefile import load_rules_yaml
from streams.cli import sampleserver
from streams.cli.common import marked
from streams.config import ROOT, Settings, get_settings
from streams.kafka.admin import delete_topics, ensure_topics
from streams.kafka.client import compacted_state, publish, read_topic
from streams.lifetime import die_with_parent
from streams.poll.health import feed_state_topic
from streams.poll.notices import FeedNotices


@dataclass
class Counts:
    """What the stack has produced so far, read back from its topics."""

    articles: int = 0
    entities: int = 0
    alerts: int = 0
    dead_letters: int = 0
    alert_lines: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"articles {self.articles} · entities {self.entities} · alerts {self.alerts} · dead letters {self.dead_letters}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(settings: Settings, overrides: dict[str, str], samples_port: int | None = None) -> dict[str, str]:
    """The poller's and worker's environment: the operator's, plus the sample server allowlisted by its exact
    address and port, so a feed, redirect or full-text link to any other loopback service is still refused."""
    env = dict(os.environ)
    allow = set(settings.fetch_allow_hosts) | ({f"127.0.0.1:{samples_port}"} if samples_port is not None else set())
    env.update({"WIREWATCH_FETCH_ALLOW_HOSTS": ",".join(sorted(allow)), "PYTHONUNBUFFERED": "1"})
    env.setdefault("WIREWATCH_ALERTS_FILE", str(settings.data_dir / "alerts.jsonl"))
    env.update(overrides)
    return env


def start_processes(env: dict[str, str], log_dir: Path) -> list[subprocess.Popen[bytes]]:
    """Start one poller and one worker, logs to files, in their own process groups."""
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    for role in ("poller", "worker"):
        log = (log_dir / f"{role}.log").open("ab")
        processes.append(
            subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "streams.cli", role],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
                # a `wirewatch run` killed outright (SIGKILL, out of memory) still stops its poller and worker
                preexec_fn=die_with_parent,  # noqa: PLW1509 - a prctl call, no lock taken between fork and exec
            )
        )
    return processes


def stop_processes(processes: list[subprocess.Popen[bytes]], grace: float = 30.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def register_samples(settings: Settings, port: int, extra_feeds: list[str]) -> tuple[int, int]:
    """Put the sample feeds, the operator's feeds and the sample watchlist on their topics; the number of feeds and
    of topics created (each with its leaders elected before anything reads or writes them)."""
    created = await ensure_topics(settings)
    # the samples under their own titles, as `feeds add` stores a checked feed (the dashboard names feeds by title)
    feeds = sampleserver.sample_feeds(port) + [(url, "") for url in extra_feeds]
    await publish(settings, "feeds", [(ids.feed_id(url), FeedSource(id=ids.feed_id(url), url=url, title=title)) for url, title in feeds])
    rules = load_rules_yaml(sampleserver.WATCHLIST.read_text("utf-8"))
    await publish(settings, "rules", [(rule.id, rule) for rule in rules])
    return len(feeds), len(created)


def _local(host: str) -> str:
    """The address a browser on this machine uses for a server bound to ``host`` (any address: loopback)."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - read, not bound
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def banner(settings: Settings, env: dict[str, str], feeds: int, port: int, created: int = 0) -> list[str]:
    """What ``wirewatch run`` says once everything is up: where to look, how to add a feed and a watch, how to stop."""
    web = f"http://{_local(settings.web_host)}"
    token = "  (?token=WIREWATCH_WEB_TOKEN once)" if settings.web_token is not None else ""
    db = "PostgreSQL (WIREWATCH_DATABASE_URL)" if settings.database_url else str(settings.sqlite_path)
    cli = ".venv/bin/wirewatch"
    lines = [
        f"[green]Wirewatch is running[/]: {feeds} feed(s); the sample feeds are listed on http://127.0.0.1:{port}/feeds/",
        f"  dashboard    : {web}:{settings.web_port}/dashboard{token}",
        f"  alerts file  : {env['WIREWATCH_ALERTS_FILE']}   (or: {cli} tail alerts -f)",
        f"  database     : {db}   (search: {cli} search WORDS --since 7d)",
        f"  metrics      : {web}:{settings.web_port}/metrics (worker), {web}:{settings.poller_web_port}/metrics (poller)",
        f"  logs         : {settings.data_dir / 'logs'}/",
        f"  add a feed   : {cli} feeds add https://example.org/rss.xml   (checked first; a web page lists its feeds)",
        f'  add a watch  : {cli} watch add "Ada Lovelace" --alias Lovelace --type PERSON',
        "Ctrl-C stops the poller and the worker; the Kafka broker keeps running until `make stop`.",
    ]
    if created:
        lines.insert(1, f"  first start  : created {created} topics, each partition with a leader before the processes started")
    return lines


async def count_topic(settings: Settings, topic: str, counts: Counts, console: Console | None) -> None:
    """Follow one topic from its start and add what it carries to ``counts``."""
    async for _key, value in read_topic(settings, topic, follow=True):
        if value is None:
            continue
        if topic == "enriched":
            counts.articles += 1
            counts.entities += len(orjson.loads(value).get("entities", []))
        elif topic == "alerts":
            alert = orjson.loads(value)
            counts.alerts += 1
            line = f"[bold yellow]ALERT[/] {escape(alert['entity_name'])}: {marked(alert['evidence'])}  [dim]{escape(alert['title'])}[/]"
            counts.alert_lines.append(line)
            if console is not None:
                console.print(line)
        elif topic == "deadletter":
            counts.dead_letters += 1


async def feed_notices(settings: Settings, console: Console) -> None:
    """One console line per feed when it starts failing and when it works again (the poller's feed-state changelog).

    The feeds failing now are named first (a restart says again what is still broken); then the changelog is
    followed from its end, so a feed that failed and recovered in an earlier run says nothing."""
    raw, topic = feed_state_topic(settings)
    notices = FeedNotices()

    def say(line: str | None) -> None:
        if line is not None:
            console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] [yellow]{escape(line)}[/]", soft_wrap=True)

    for feed, current in (await compacted_state(raw, topic)).items():
        say(notices.update(feed, current))
    async for key, value in read_topic(raw, topic, from_beginning=False, follow=True):
        say(notices.update(key, value))


async def _watch(
    settings: Settings, processes: list[subprocess.Popen[bytes]], console: Console, until: float | None, expected_articles: int | None
) -> Counts:
    counts = Counts()
    followers = [asyncio.create_task(count_topic(settings, topic, counts, console)) for topic in ("enriched", "alerts", "deadletter")]
    if until is None:  # `wirewatch run`: the operator's own feeds may fail, and this console is where they look
        followers.append(asyncio.create_task(feed_notices(settings, console)))
    last = ""
    try:
        while True:
            await asyncio.sleep(1.0)
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a Wirewatch process exited with code {process.returncode}; see .local/logs/")
            line = counts.line()
            if line != last and until is None:
                console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {line}")
                last = line
            if until is not None and (
                time.monotonic() > until or (expected_articles is not None and counts.articles >= expected_articles and counts.alerts > 0)
            ):
                await asyncio.sleep(2.0)  # late alerts of the last batch
                return counts
    finally:
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)


def run_stack(extra_feeds: list[str], port: int, console: Console) -> int:
    """The long-running ``wirewatch run``: until Ctrl-C or SIGTERM, then the children are stopped first."""
    settings = get_settings()
    env = child_env(settings, {}, samples_port=port)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = await sampleserver.start(port)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            feeds, created = await register_samples(settings, port, extra_feeds)
            processes = start_processes(env, settings.data_dir / "logs")
            for line in banner(settings, env, feeds, port, created):
                console.print(line, soft_wrap=True)  # one line each, however narrow the terminal: nothing to misread
            watcher = asyncio.create_task(_watch(settings, processes, console, None, None))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({watcher, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (watcher, stopper):
                task.cancel()
            if watcher in done and not watcher.cancelled() and watcher.exception() is not None:
                raise watcher.exception()  # type: ignore[misc]
        finally:
            # Children first: whatever happens to this terminal, no poller or worker is left behind.
            await loop.run_in_executor(None, stop_processes, processes)
            await server.cleanup()

    try:
        asyncio.run(go())
    except RuntimeError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    console.print("stopped: poller and worker shut down cleanly; the Kafka broker is still running (`make stop` stops it).", soft_wrap=True)
    return 0


def run_demo(timeout: float, as_json: bool, console: Console, keep: bool = False) -> int:
    """The bounded demo: fresh topics, the sample feeds once, a summary, exit 0 when it worked.

    Its topics are deleted and, when it worked, its folder ``.local/demo/<id>/`` too (unless ``keep``)."""
    base = get_settings()
    run_id = f"{int(time.time())}-{os.getpid()}"
    data_dir = base.data_dir / "demo" / run_id
    overrides = {
        "WIREWATCH_TOPIC_PREFIX": f"wirewatch-demo-{run_id}.",
        "WIREWATCH_APP_PREFIX": f"wirewatch-demo-{run_id}",
        "WIREWATCH_SQLITE_PATH": str(data_dir / "wirewatch.db"),
        "WIREWATCH_DATA_DIR": str(data_dir),
        "WIREWATCH_WEB_PORT": str(free_port()),
        "WIREWATCH_POLLER_WEB_PORT": str(free_port()),
    }
    port = free_port()
    env = child_env(base, overrides, samples_port=port)
    settings = Settings.model_validate({key.removeprefix("WIREWATCH_").lower(): value for key, value in overrides.items()})

    async def go() -> Counts:
        server = await sampleserver.start(port)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            await register_samples(settings, port, [])
            processes = start_processes(env, data_dir / "logs")
            console.print(f"demo: polling {len(sampleserver.FEED_FILES)} sample feeds on fresh topics {settings.topic_prefix}* ...")
            return await _watch(settings, processes, console, time.monotonic() + timeout, sampleserver.sample_article_count())
        finally:
            await asyncio.get_running_loop().run_in_executor(None, stop_processes, processes)
            await server.cleanup()
            # the demo's topics are throwaway: left behind, every run would add about 150 partitions to the broker
            with contextlib.suppress(Exception):
                await delete_topics(settings)

    try:
        counts = asyncio.run(go())
    except RuntimeError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    ok = counts.articles >= sampleserver.sample_article_count() and counts.alerts > 0
    kept = keep or not ok  # a failed run keeps its logs to read; a good one leaves nothing behind
    if not kept:
        shutil.rmtree(data_dir, ignore_errors=True)
    summary = {
        "articles": counts.articles,
        "entities": counts.entities,
        "alerts": counts.alerts,
        "dead_letters": counts.dead_letters,
        "database": str(data_dir / "wirewatch.db") if kept else None,
    }
    if as_json:
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    else:
        table = Table("articles", "entities", "alerts", "dead letters", "database", title="Wirewatch demo")
        database = str(summary["database"] or "removed (--keep keeps it)")
        table.add_row(str(counts.articles), str(counts.entities), str(counts.alerts), str(counts.dead_letters), database)
        Console().print(table)
    if not ok:
        expected = sampleserver.sample_article_count()
        console.print(f"[red]demo incomplete[/]: expected {expected} articles and at least one alert; see {data_dir / 'logs'}")
    return 0 if ok else 1
