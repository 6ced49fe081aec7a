"""The ``wirewatch`` command: run the processes, manage feeds and watches, read topics, extract offline."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any, get_args

import click
import orjson
from rich.console import Console
from rich.table import Table

from streams.config import WorkerRole, get_settings

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
    worker.spinner = None  # its terminal codes would break JSON log lines when output is not a terminal
    worker.execute_from_commandline()


@main.command()
def poller() -> None:
    """Run a poller process (one consumer-group member of wirewatch-poller)."""
    _start_faust("poller")


@main.command()
@click.option(
    "--role",
    type=click.Choice(get_args(WorkerRole)),
    default=None,
    help="all: every agent (the default, or WIREWATCH_WORKER_ROLE); nlp: only the enrich agent, in its own consumer "
    "group; core: every agent but enrich. Scale NLP apart by running nlp and core workers instead of all.",
)
def worker(role: str | None) -> None:
    """Run a worker process: enrich, alert, deliver and store (or one role's share of them)."""
    if role is not None:
        os.environ["WIREWATCH_WORKER_ROLE"] = role
        get_settings.cache_clear()  # the apps are created from the settings on import, after this
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
@click.option("--min-interval", type=click.IntRange(min=1), default=None, help="Shortest interval between polls (s).")
@click.option("--max-interval", type=click.IntRange(min=1), default=None, help="Longest interval between polls (s).")
@click.option(
    "--fulltext/--no-fulltext",
    default=False,
    help="Fetch each new item's article page (guarded, once per item version) and publish its main text "
    "(trafilatura); a page that fails keeps the feed's text.",
)
@click.option("--disabled", is_flag=True, help="Register the feed without polling it.")
def feeds_add(
    urls: tuple[str, ...],
    title: str,
    tags: tuple[str, ...],
    language: str | None,
    min_interval: int | None,
    max_interval: int | None,
    fulltext: bool,
    disabled: bool,
) -> None:
    """Add feeds by URL (adding one twice updates it)."""
    from streams.kafka import publish
    from streams.registry import RegistryError, make_source

    items: list[tuple[str, Any]] = []
    for url in urls:
        try:
            source = make_source(url, title, list(tags), language, min_interval, max_interval, fulltext, not disabled)
        except RegistryError as exc:
            raise click.BadParameter(str(exc), param_hint="URL") from exc
        items.append((source.id, source))
    _run(publish(get_settings(), "feeds", items))
    for key, source in items:
        out.print(f"added feed {key}  {source.url}")


@feeds.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def feeds_import(path: Path) -> None:
    """Add every feed of an OPML or YAML file (see README for the YAML keys)."""
    from streams.kafka import publish
    from streams.registry import RegistryError, parse_registry_file

    try:
        sources = parse_registry_file(path.read_text("utf-8"))
    except (RegistryError, OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    _run(publish(get_settings(), "feeds", [(source.id, source) for source in sources]))
    out.print(f"imported {len(sources)} feed(s) from {path}")


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
    """List the registered feeds with their health (from the poller's feed-state changelog)."""
    from datetime import UTC, datetime

    from streams.feedhealth import load_feed_board

    board = _run(load_feed_board(get_settings()))
    rows = board.rows(warn=lambda message: console.print(f"[yellow]warning:[/] {message}"))
    if as_json:
        _print_json(rows)
        return

    def when(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"

    table = Table("id", "url", "status", "last poll (UTC)", "errors", "last error", "next check in", "items seen")
    for row in rows:
        table.add_row(
            row["id"],
            row["url"],
            row["status"],
            when(row["last_poll"]),
            str(row["error_count"]),
            (row["last_error"] or "")[:60],
            f"{row['next_check_in']:.0f} s" if row["next_check_in"] is not None else "-",
            str(row["items_seen"]),
        )
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
@click.option(
    "--kind", type=click.Choice(["new_mention", "mention", "spike", "event", "co_mention"]), default="new_mention", show_default=True
)
@click.option("--lookback-days", type=click.IntRange(min=1), default=None, help="new_mention: look-back window (default 30).")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None, help="Gate: minimum mention/event confidence.")
@click.option("--min-sources", type=click.IntRange(min=1), default=None, help="Gate: fire once this many sources carry the story.")
@click.option("--window", "spike_window_minutes", type=click.IntRange(min=15), default=None, help="spike: window in minutes (60).")
@click.option("--baseline", "spike_baseline_hours", type=click.IntRange(min=1), default=None, help="spike: baseline in hours (168).")
@click.option("--sensitivity", "spike_sensitivity", type=click.FloatRange(min=0, min_open=True), help="spike: × baseline (3).")
@click.option("--min-mentions", "spike_min_mentions", type=click.IntRange(min=1), default=None, help="spike: stories in the window (3).")
@click.option("--cooldown", "cooldown_minutes", type=click.IntRange(min=0), default=None, help="spike: quiet minutes after firing (360).")
@click.option("--event-type", "event_types", multiple=True, help="event: PLOVER type, e.g. ASSAULT (repeatable).")
@click.option("--mode", "event_modes", multiple=True, help="event: PLOVER mode (repeatable).")
@click.option("--actor", "event_actor", default=None, help="event: an actor's name.")
@click.option("--location", "event_location", default=None, help="event: a place name, e.g. Mosul.")
@click.option("--magnitude", default=None, help="event: KIND>=N, e.g. killed>=10 or displaced>=1000.")
@click.option("--with", "other", default=None, help="co_mention: the other watched name.")
@click.option("--destination", "destinations", multiple=True, help="https://..., slack:https://..., mailto:a@x, file:PATH (repeatable).")
@click.option("--digest", type=click.Choice(["hourly", "daily"]), default=None, help="Low urgency: one summary per UTC hour/day.")
def watch_add(
    name: str, aliases: tuple[str, ...], entity_type: str | None, wikidata: str | None, kind: str, magnitude: str | None,
    other: str | None, **options: Any,
) -> None:  # fmt: skip
    """Watch NAME: alert when it is mentioned (for --kind event, NAME labels the rule)."""
    from streams.destinations import validate_destination
    from streams.kafka import publish
    from streams.watch import make_rule, parse_magnitude

    settings = get_settings()
    try:
        for spec in options["destinations"]:
            validate_destination(spec, settings)
        if magnitude:
            options.update(parse_magnitude(magnitude))
        options = {key: (list(value) if isinstance(value, tuple) else value) for key, value in options.items()}
        rule = make_rule(name, list(aliases), entity_type, wikidata, kind, other={"name": other} if other else None, **options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    _run(publish(settings, "rules", [(rule.id, rule)]))
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
    from streams.watch import describe

    table = Table("rule id", "kind", "name", "aliases", "type", "settings")
    for rule in rules:
        table.add_row(rule.id, rule.kind, rule.entity.name, ", ".join(rule.entity.aliases), rule.entity.type or "", describe(rule))
    out.print(table)


# ---------------------------------------------------------------- alerts


@main.group(invoke_without_command=True)
@click.option("--since", default="24h", show_default=True, help="Alerts detected since: 30m, 2h, 7d, 1w or an ISO date.")
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="Most recent alerts shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def alerts(ctx: click.Context, since: str, limit: int, as_json: bool) -> None:
    """List recent alerts (from the topic wirewatch.alerts); 'alerts replay' re-sends them."""
    if ctx.invoked_subcommand is not None:
        return
    from streams.alertlog import parse_since, read_alerts

    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    found = _run(read_alerts(get_settings(), start))[-limit:]
    if as_json:
        _print_json([alert.model_dump(mode="json") for alert in found])
        return
    table = Table("detected", "kind", "entity", "evidence", "title", "sources")
    for alert in found:
        table.add_row(alert.detected.strftime("%Y-%m-%d %H:%M:%S"), alert.kind, alert.entity_name, alert.evidence, alert.title,
                      str(alert.source_count))  # fmt: skip
    out.print(table)
    console.print(f"{len(found)} alert(s) since {start:%Y-%m-%d %H:%M} UTC")
    from streams.kafka import compacted_state

    disabled = _run(compacted_state(get_settings(), "destinations"))
    if disabled:
        console.print(f"[red]{len(disabled)} destination(s) disabled after 410 Gone[/]: see 'wirewatch destinations'")


@alerts.command("replay")
@click.option("--since", required=True, help="Re-send alerts detected since: 30m, 2h, 7d, 1w or an ISO date.")
@click.option("--to", "destination", required=True, help="https://..., slack:https://..., mailto:a@x, file:PATH or console.")
def alerts_replay(since: str, destination: str) -> None:
    """Re-send recent alerts to one destination (same ids: webhook receivers deduplicate on webhook-id)."""
    from rich.progress import Progress

    from streams.alertlog import parse_since, read_alerts, replay
    from streams.destinations import validate_destination

    settings = get_settings()
    try:
        start = parse_since(since)
        validate_destination(destination, settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    found = _run(read_alerts(settings, start))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(found))
        errors = _run(replay(settings, found, destination, lambda: progress.advance(task)))
    for error in errors:
        console.print(f"[red]failed:[/] {error}")
    out.print(f"replayed {len(found) - len(errors)} of {len(found)} alert(s) since {start:%Y-%m-%d %H:%M} UTC")
    if errors:
        sys.exit(1)


# ---------------------------------------------------------------- destinations


@main.group("destinations", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def destinations(ctx: click.Context, as_json: bool) -> None:
    """List alert destinations (defaults and rules' own) and which are disabled after a 410 Gone."""
    if ctx.invoked_subcommand is not None:
        return
    from schemas import DestinationState, WatchRule, decode
    from streams.destinations import default_destinations, destination_id, display_name
    from streams.kafka import compacted_state

    settings = get_settings()

    async def load() -> tuple[dict[str, bytes], dict[str, bytes]]:
        return await compacted_state(settings, "destinations"), await compacted_state(settings, "rules")

    states, rule_values = _run(load())
    disabled = {key: decode(DestinationState, value) for key, value in states.items()}
    rules_of: dict[str, int] = {}
    specs = list(default_destinations(settings))
    for value in rule_values.values():
        for spec in decode(WatchRule, value).destinations:
            rules_of[spec] = rules_of.get(spec, 0) + 1
            if spec not in specs:
                specs.append(spec)
    specs += [state.spec for state in disabled.values() if state.spec not in specs]
    rows = []
    for spec in specs:
        state = disabled.get(destination_id(spec))
        rows.append({"id": destination_id(spec), "destination": display_name(spec), "rules": rules_of.get(spec, 0),
                     "disabled": state is not None, "since": state.since.isoformat() if state else None,
                     "reason": state.reason if state else ""})  # fmt: skip
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "destination", "rules", "state")
    for row in rows:
        status = f"[red]disabled[/] since {str(row['since'])[:19]}: {row['reason']}" if row["disabled"] else "enabled"
        table.add_row(str(row["id"]), str(row["destination"]), str(row["rules"]) if row["rules"] else "default", status)
    out.print(table)
    if disabled:
        console.print(f"{len(disabled)} disabled; re-enable one with: wirewatch destinations enable ID")


@destinations.command("enable")
@click.argument("id_or_spec")
def destinations_enable(id_or_spec: str) -> None:
    """Re-enable a destination disabled after a 410 Gone (by id from 'destinations', or its spec); workers resume within seconds."""
    from streams.destinations import destination_id
    from streams.kafka import compacted_state, publish

    settings = get_settings()
    states = _run(compacted_state(settings, "destinations"))
    key = id_or_spec if id_or_spec in states else destination_id(id_or_spec)
    if key not in states:
        raise click.ClickException(f"{id_or_spec!r} is not a disabled destination (see 'wirewatch destinations')")
    _run(publish(settings, "destinations", [(key, None)]))
    out.print(f"re-enabled destination {key}")


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
@click.option("--watchlist", "watchlist_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Watchlist YAML: watched names are found even where the model misses them.")  # fmt: skip
def extract(source: Any, batch_size: int, watchlist_file: Path | None) -> None:
    """Entities and PLOVER events of JSON lines {"id", "text", "title"?} (file or stdin), one JSON line out per line in."""
    from streams.extract_cli import run_extract
    from streams.watch import Watchlist, load_rules_yaml

    watchlist = Watchlist(load_rules_yaml(watchlist_file.read_text("utf-8"))) if watchlist_file else None
    sys.exit(run_extract(source, sys.stdout, batch_size, console, watchlist))


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


# ---------------------------------------------------------------- stored data


async def _with_sink(action: Any) -> Any:
    from streams.sinks import create_sink

    sink = create_sink(get_settings())
    await sink.open()
    try:
        return await action(sink)
    finally:
        await sink.close()


@main.command()
@click.argument("text")
@click.option("--since", default=None, help="Only articles newer than this: 2d, 12h, 30m, 1w or an ISO date.")
@click.option("--type", "entity_type", default=None, help="Only articles naming a TEXT entity of this type (GPE, PERSON, ...).")
@click.option("--limit", "-n", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def search(text: str, since: str | None, entity_type: str | None, limit: int, as_json: bool) -> None:
    """Full-text search of the stored articles: every word of TEXT must occur; newest first."""
    from streams.search import QueryError, SearchQuery, parse_since, to_plain

    try:
        query = SearchQuery(text, parse_since(since), entity_type.upper() if entity_type else None, limit)
        hits = _run(_with_sink(lambda sink: sink.search(query)))
    except QueryError as exc:
        raise click.BadParameter(str(exc)) from exc
    if as_json:
        _print_json(to_plain(hits))
        return
    from rich.markup import escape

    table = Table("time", "title", "entities", "snippet", title=escape(f"{len(hits)} article(s) matching {text!r}"))
    for hit in hits:
        table.add_row((hit.published or hit.fetched)[:16], escape(hit.title), escape(", ".join(hit.entities)), escape(hit.snippet))
    out.print(table)


@main.command()
@click.argument("name")
@click.option("--limit", "-n", type=int, default=10, show_default=True, help="Co-mentioned entities and articles shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def entity(name: str, limit: int, as_json: bool) -> None:
    """An entity's mention timeline (per day), the entities named with it and its latest articles."""
    from rich.markup import escape

    from streams.search import QueryError, to_plain

    try:
        report = _run(_with_sink(lambda sink: sink.entity_report(name, limit)))
    except QueryError as exc:
        raise click.BadParameter(str(exc)) from exc
    if report is None:
        if as_json:
            _print_json(None)
        console.print(f"no stored entity matches {name!r}")
        sys.exit(1)
    if as_json:
        _print_json(to_plain(report))
        return
    e = report.entity
    out.print(escape(f"{e.name} ({e.type}, id {e.id}): {e.mentions} mention(s)"))
    timeline = Table("day", "mentions", title="timeline")
    for day, count in report.timeline:
        timeline.add_row(day, str(count))
    out.print(timeline)
    company = Table("entity", "type", "shared articles", title="co-mentioned")
    for other in report.co_mentioned:
        company.add_row(escape(other.name), other.type, str(other.mentions))
    out.print(company)
    articles = Table("time", "title", title="latest articles")
    for article in report.articles:
        articles.add_row(str(article["time"])[:16], escape(article["title"]))
    out.print(articles)
    if report.others:
        out.print(escape("also matching: " + ", ".join(f"{o.name} ({o.type}, {o.mentions})" for o in report.others)))


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
