"""``wirewatch watch``: watch rules on the compacted topic ``wirewatch.rules``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from streams.cli.common import fail, out, print_json, run_async
from streams.cli.tables import WIDE_HELP, Column, print_rows
from streams.config import get_settings


@click.group()
def watch() -> None:
    """Manage watched names (the compacted topic wirewatch.rules)."""


@watch.command("add")
@click.argument("name", required=False, default="")
@click.option("--alias", "aliases", multiple=True, help="Another name for the same entity (repeatable).")
@click.option("--type", "entity_type", default=None, help="spaCy type: PERSON, ORG, GPE, ...")
@click.option("--wikidata", default=None, help="Wikidata id, e.g. Q42.")
@click.option(
    "--kind",
    type=click.Choice(["new_mention", "mention", "spike", "event", "co_mention", "breaking", "query"]),
    default=None,
    help="breaking: a story gaining sources fast (NAME '*' for any story); query: --query (the default with it).  [default: new_mention]",
)
@click.option("--query", default=None, help="query: Lucene query-string syntax, e.g. '\"Carl Icahn\" AND (eBay OR PayPal) -football'.")
@click.option("--feed", "feeds", multiple=True, help="Scope: only articles of this feed id (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Scope: only articles of feeds with this tag (repeatable).")
@click.option("--source", "sources", multiple=True, help="Scope: only articles from this host, subdomains too (repeatable).")
@click.option("--lang", "languages", multiple=True, help="Scope: only articles in this language, e.g. en (repeatable).")
@click.option("--exclude", multiple=True, help="Never an article with this word or phrase (repeatable).")
@click.option("--lookback-days", type=click.IntRange(min=1), default=None, help="new_mention: look-back window (default 30).")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None, help="Gate: minimum mention/event confidence.")
@click.option("--min-sources", type=click.IntRange(min=1), default=None, help="Gate: fire once this many sources carry the story.")
@click.option(
    "--window", "spike_window_minutes", type=click.IntRange(min=15), default=None, help="spike, breaking: window in minutes (60)."
)
@click.option("--baseline", "spike_baseline_hours", type=click.IntRange(min=1), default=None, help="spike: baseline in hours (168).")
@click.option("--sensitivity", "spike_sensitivity", type=click.FloatRange(min=0, min_open=True), help="spike: × baseline (3).")
@click.option(
    "--min-mentions",
    "spike_min_mentions",
    type=click.IntRange(min=1),
    default=None,
    help="spike: stories (breaking: new sources) in the window (3).",
)
@click.option(
    "--cooldown", "cooldown_minutes", type=click.IntRange(min=0), default=None, help="spike, breaking: quiet minutes after firing (360)."
)
@click.option("--event-type", "event_types", multiple=True, help="event: PLOVER type, e.g. ASSAULT (repeatable).")
@click.option("--mode", "event_modes", multiple=True, help="event: PLOVER mode (repeatable).")
@click.option("--actor", "event_actor", default=None, help="event: an actor's name.")
@click.option("--location", "event_location", default=None, help="event: a place name, e.g. Mosul.")
@click.option("--magnitude", default=None, help="event: KIND>=N, e.g. killed>=10 or displaced>=1000.")
@click.option("--with", "other", default=None, help="co_mention: the other watched name.")
@click.option("--destination", "destinations", multiple=True, help="https://..., slack:https://..., mailto:a@x, file:PATH (repeatable).")
@click.option("--digest", type=click.Choice(["hourly", "daily"]), default=None, help="Low urgency: one summary per UTC hour/day.")
def watch_add(
    name: str, aliases: tuple[str, ...], entity_type: str | None, wikidata: str | None, kind: str | None, magnitude: str | None,
    other: str | None, tags: tuple[str, ...], **options: Any,
) -> None:  # fmt: skip
    """Watch NAME: alert when it is mentioned (for --kind event, NAME labels the rule; --kind breaking '*': any story).

    With --query, alert on every story an article of which matches the query (NAME, optional, labels the rule)."""
    from streams.alert.rulefile import make_rule, parse_magnitude
    from streams.deliver.specs import validate_destination
    from streams.kafka.client import publish

    settings = get_settings()
    kind = kind or ("query" if options.get("query") is not None else "new_mention")
    options["feeds"] = [*options["feeds"], *tags]  # a feed id or a tag: the feed: scope takes either
    if not name and kind != "query":
        raise click.UsageError("Missing argument 'NAME' (only a --query rule may go without one).")
    try:
        for spec in options["destinations"]:
            validate_destination(spec, settings)
        if magnitude:
            options.update(parse_magnitude(magnitude))
        options = {key: (list(value) if isinstance(value, tuple) else value) for key, value in options.items()}
        rule = make_rule(name, list(aliases), entity_type, wikidata, kind, other={"name": other} if other else None, **options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    run_async(publish(settings, "rules", [(rule.id, rule)]))
    out.print(f"watching {rule.entity.name!r} ({rule.kind}) as rule {rule.id}", markup=False)


@watch.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def watch_import(path: Path) -> None:
    """Add every entry of a watchlist YAML file."""
    from streams.alert.rulefile import load_rules_yaml
    from streams.kafka.client import publish

    try:
        rules = load_rules_yaml(path.read_text("utf-8"))
    except (ValueError, OSError) as exc:
        fail(f"{path}: {exc}")
    run_async(publish(get_settings(), "rules", [(rule.id, rule) for rule in rules]))
    out.print(f"imported {len(rules)} watch rule(s) from {path}")


@watch.command("remove")
@click.argument("rule_id")
def watch_remove(rule_id: str) -> None:
    """Stop watching (by rule id, or the start of one that no other rule shares, as 'watch list' shows it)."""
    from streams.kafka.client import compacted_state, publish

    settings = get_settings()
    known = run_async(compacted_state(settings, "rules"))
    if rule_id not in known:
        matches = sorted(key for key in known if key.startswith(rule_id))
        if len(matches) > 1:
            fail(f"{rule_id!r} starts {len(matches)} rule ids ({', '.join(matches)}): give more of it")
        if matches:
            rule_id = matches[0]
    run_async(publish(settings, "rules", [(rule_id, None)]))
    out.print(f"removed rule {rule_id}")


@watch.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--wide", is_flag=True, help=WIDE_HELP)
def watch_list(as_json: bool, wide: bool) -> None:
    """List the watch rules in force."""
    from schemas import WatchRule, decode
    from streams.kafka.client import compacted_state

    state = run_async(compacted_state(get_settings(), "rules"))
    rules = [decode(WatchRule, value) for value in state.values()]
    if as_json:
        from streams.text import mask_destination

        # destinations hold tokens (webhook and Slack URLs): masked here as everywhere they are printed
        print_json([rule.model_dump(mode="json") | {"destinations": [mask_destination(s) for s in rule.destinations]} for rule in rules])
        return
    from rich.markup import escape

    from streams.alert.rulefile import describe

    columns = [
        Column("rule id", short=True),  # narrow, its first 12 characters: `watch remove` takes a unique start
        Column("kind", short=True),
        Column("name", max_width=24),
        Column("aliases", wide_only=True),
        Column("type", short=True),
        Column("settings"),
    ]
    rows = [
        [
            rule.id if wide else rule.id[:12],
            rule.kind,
            escape(rule.entity.name),
            escape(", ".join(rule.entity.aliases)),
            rule.entity.type or "",
            escape(describe(rule)),
        ]
        for rule in rules
    ]
    print_rows(columns, rows, wide)
