"""The ``wirewatch`` command: run the processes, manage feeds and watches, read topics, extract offline."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from streams.config import get_settings

console = Console(stderr=True)
out = Console()


def _run(coro: Any) -> Any:
    from streams.kafka import BrokerUnavailable

    try:
        return asyncio.run(coro)
    except BrokerUnavailable as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(2)


def _print_json(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")


@click.group()
@click.version_option(package_name="wirewatch")
def main() -> None:
    """Wirewatch: live news feeds to entities, key events and alerts on Apache Kafka."""
    # aiokafka logs retried produce errors (a new topic's leader not yet elected) that need no action
    logging.getLogger("aiokafka").setLevel(logging.ERROR)


# ---------------------------------------------------------------- processes


def _start_faust(role: str) -> None:
    from faust import Worker

    from streams.kafka import ensure_topics
    from streams.logs import setup_logging

    settings = get_settings()
    _run(ensure_topics(settings))
    setup_logging(settings)
    if role == "poller":
        import agents.poll  # noqa: F401 - registers the poller's agents
        from streams.app import poller_app as app
    else:
        import agents.worker  # noqa: F401 - registers the worker's agents
        from streams.app import worker_app as app
    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False, override_logging=False)
    worker.execute_from_commandline()


@main.command()
def poller() -> None:
    """Run a poller process (one consumer-group member of wirewatch-poller)."""
    _start_faust("poller")


@main.command()
def worker() -> None:
    """Run a worker process: enrich, alert, deliver and store."""
    _start_faust("worker")


# ---------------------------------------------------------------- feeds


@main.group()
def feeds() -> None:
    """Manage the feed registry (the compacted topic wirewatch.feeds)."""


@feeds.command("add")
@click.argument("urls", nargs=-1, required=True)
@click.option("--title", default="", help="A title for the feed.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--language", default=None, help="Language of the feed's articles (e.g. en).")
def feeds_add(urls: tuple[str, ...], title: str, tags: tuple[str, ...], language: str | None) -> None:
    """Add feeds by URL (adding one twice updates it)."""
    from schemas import FeedSource
    from streams import ids
    from streams.kafka import publish

    items: list[tuple[str, Any]] = []
    for url in urls:
        if not url.lower().startswith(("http://", "https://")):
            raise click.BadParameter(f"{url!r}: only http(s) feed URLs can be polled", param_hint="URL")
        source = FeedSource(id=ids.feed_id(url), url=url, title=title, tags=list(tags), language=language)
        items.append((source.id, source))
    _run(publish(get_settings(), "feeds", items))
    for key, source in items:
        out.print(f"added feed {key}  {source.url}")


@feeds.command("remove")
@click.argument("url_or_id")
def feeds_remove(url_or_id: str) -> None:
    """Remove a feed by URL or id (writes a tombstone)."""
    from streams import ids
    from streams.kafka import publish

    key = ids.feed_id(url_or_id) if "://" in url_or_id else url_or_id
    _run(publish(get_settings(), "feeds", [(key, None)]))
    out.print(f"removed feed {key}")


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def feeds_list(as_json: bool) -> None:
    """List the registered feeds."""
    from schemas import FeedSource, decode
    from streams.kafka import compacted_state

    state = _run(compacted_state(get_settings(), "feeds"))
    sources = [decode(FeedSource, value) for value in state.values()]
    if as_json:
        _print_json([source.model_dump(mode="json") for source in sources])
        return
    table = Table("id", "url", "title", "enabled")
    for source in sources:
        table.add_row(source.id, source.url, source.title, "yes" if source.enabled else "no")
    out.print(table)


# ---------------------------------------------------------------- watches


@main.group()
def watch() -> None:
    """Manage watched names (the compacted topic wirewatch.rules)."""


@watch.command("add")
@click.argument("name")
@click.option("--alias", "aliases", multiple=True, help="Another name for the same entity (repeatable).")
@click.option("--type", "entity_type", default=None, help="spaCy type: PERSON, ORG, GPE, ...")
@click.option("--wikidata", default=None, help="Wikidata id, e.g. Q42.")
@click.option("--kind", type=click.Choice(["new_mention", "mention"]), default="new_mention", show_default=True)
def watch_add(name: str, aliases: tuple[str, ...], entity_type: str | None, wikidata: str | None, kind: str) -> None:
    """Watch NAME: alert when it is mentioned."""
    from streams.kafka import publish
    from streams.watch import make_rule

    rule = make_rule(name, list(aliases), entity_type, wikidata, kind)
    _run(publish(get_settings(), "rules", [(rule.id, rule)]))
    out.print(f"watching {rule.entity.name!r} ({rule.kind}) as rule {rule.id}")


@watch.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def watch_import(path: Path) -> None:
    """Add every entry of a watchlist YAML file."""
    from streams.kafka import publish
    from streams.watch import load_rules_yaml

    try:
        rules = load_rules_yaml(path.read_text("utf-8"))
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    _run(publish(get_settings(), "rules", [(rule.id, rule) for rule in rules]))
    out.print(f"imported {len(rules)} watch rule(s) from {path}")


@watch.command("remove")
@click.argument("rule_id")
def watch_remove(rule_id: str) -> None:
    """Stop watching (by rule id, see 'watch list')."""
    from streams.kafka import publish

    _run(publish(get_settings(), "rules", [(rule_id, None)]))
    out.print(f"removed rule {rule_id}")


@watch.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def watch_list(as_json: bool) -> None:
    """List the watch rules in force."""
    from schemas import WatchRule, decode
    from streams.kafka import compacted_state

    state = _run(compacted_state(get_settings(), "rules"))
    rules = [decode(WatchRule, value) for value in state.values()]
    if as_json:
        _print_json([rule.model_dump(mode="json") for rule in rules])
        return
    table = Table("rule id", "kind", "name", "aliases", "type")
    for rule in rules:
        table.add_row(rule.id, rule.kind, rule.entity.name, ", ".join(rule.entity.aliases), rule.entity.type or "")
    out.print(table)


# ---------------------------------------------------------------- topics


@main.command()
@click.argument("topic")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new messages.")
@click.option("--limit", "-n", type=int, default=None, help="Stop after this many messages.")
def tail(topic: str, follow: bool, limit: int | None) -> None:
    """Print a topic's messages as JSON lines: {"key", "value"} (TOPIC without prefix, e.g. alerts)."""
    from streams.kafka import TOPIC_NAMES, read_topic

    settings = get_settings()
    suffix = topic.removeprefix(settings.topic_prefix)
    if suffix not in TOPIC_NAMES:
        raise click.BadParameter(f"unknown topic {topic!r}; one of: {', '.join(TOPIC_NAMES)}", param_hint="TOPIC")

    async def go() -> None:
        count = 0
        async for key, value in read_topic(settings, suffix, follow=follow):
            try:
                decoded = orjson.loads(value) if value is not None else None
            except orjson.JSONDecodeError:
                decoded = {"undecodable": value.decode("utf-8", "replace") if value else None}
            sys.stdout.write(orjson.dumps({"key": key, "value": decoded}).decode() + "\n")
            sys.stdout.flush()
            count += 1
            if limit is not None and count >= limit:
                return

    try:
        _run(go())
    except KeyboardInterrupt:
        pass


@main.command()
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--batch-size", type=int, default=32, show_default=True)
def extract(source: Any, batch_size: int) -> None:
    """Entities of JSON lines {"id", "text", "title"?} (file or stdin), one JSON line out per line in."""
    from streams.extract_cli import run_extract

    sys.exit(run_extract(source, sys.stdout, batch_size, console))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def config(as_json: bool) -> None:
    """Print the effective settings, secrets masked."""
    values = get_settings().masked()
    if as_json:
        _print_json(values)
        return
    table = Table("setting", "environment variable", "value")
    for name, value in values.items():
        table.add_row(name, f"WIREWATCH_{name.upper()}", str(value))
    out.print(table)


# ---------------------------------------------------------------- run and demo


@main.command()
@click.option("--feed", "extra_feeds", multiple=True, help="A real feed URL to poll besides the samples (repeatable).")
@click.option("--samples-port", type=int, default=8765, show_default=True, help="Port of the local sample-feed server.")
def run(extra_feeds: tuple[str, ...], samples_port: int) -> None:
    """Run poller and worker on the sample feeds (plus --feed URLs); show alerts and counts until Ctrl-C."""
    from streams.runner import run_stack

    feeds_env = [url for url in os.environ.get("WIREWATCH_FEEDS", "").split(",") if url.strip()]
    sys.exit(run_stack(list(extra_feeds) + feeds_env, samples_port, bounded=False, console=console))


@main.command()
@click.option("--timeout", type=float, default=240.0, show_default=True, help="Give up after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(timeout: float, as_json: bool) -> None:
    """Process the sample feeds once on fresh topics, print a summary and exit (0 when alerts came out)."""
    from streams.runner import run_demo

    sys.exit(run_demo(timeout, as_json, console))


if __name__ == "__main__":
    main()
