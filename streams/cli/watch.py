"""``wirewatch watch``: watch rules on the compacted topic ``wirewatch.rules``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from streams.cli.common import console, fail, out, print_json, run_async
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
@click.option(
    "--try",
    "try_since",
    default=None,
    metavar="SINCE",
    help="First show what the rule would have sent over the stored articles of this period (7d, 24h), then add it.",
)
@click.option("--dry-run", is_flag=True, help="With --try: only show the preview; add nothing.")
@click.option(
    "--backfill",
    "backfill_since",
    default=None,
    metavar="SINCE",
    help="Also raise now the alerts of this period (24h) whose stories are still open (delivered as usual).",
)
@click.option("--json", "as_json", is_flag=True, help="With --try: print the preview as JSON.")
def watch_add(
    name: str, aliases: tuple[str, ...], entity_type: str | None, wikidata: str | None, kind: str | None, magnitude: str | None,
    other: str | None, tags: tuple[str, ...], try_since: str | None, dry_run: bool, backfill_since: str | None, as_json: bool,
    **options: Any,
) -> None:  # fmt: skip
    """Watch NAME: alert when it is mentioned (for --kind event, NAME labels the rule; --kind breaking '*': any story).

    With --query, alert on every story an article of which matches the query (NAME, optional, labels the rule).
    --try 7d previews the rule on the stored articles first and then adds it (with --dry-run: only the preview);
    --backfill 24h also raises the alerts of stories still open, with the ids the worker gives them."""
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
    if dry_run and not try_since:
        raise click.UsageError("--dry-run previews without adding: give it --try SINCE")
    if dry_run and backfill_since:
        raise click.UsageError("--backfill raises alerts: it cannot be part of a --dry-run")
    if try_since:
        _preview(settings, rule, try_since, as_json, wide=False)
        if dry_run:
            console.print("dry run: nothing added")
            return
    run_async(publish(settings, "rules", [(rule.id, rule)]))
    # after a --json preview, stdout holds the JSON alone
    (console if as_json else out).print(f"watching {rule.entity.name!r} ({rule.kind}) as rule {rule.id}", markup=False)
    if backfill_since:
        _backfill(settings, rule, backfill_since)


def _window(value: str) -> tuple[Any, Any]:
    from streams.clock import parse_since, utcnow
    from streams.errors import InputError

    until = utcnow()
    try:
        return parse_since(value, until), until
    except InputError as exc:
        raise click.BadParameter(str(exc)) from exc


def _preview(settings: Any, rule: Any, since_text: str, as_json: bool, wide: bool) -> Any:
    from streams.cli.trywatch import print_preview, rules_in_force, run_preview
    from streams.web.preview import check_previewable

    since, until = _window(since_text)
    try:
        check_previewable(rule)
    except ValueError as exc:
        fail(str(exc))
    result = run_preview(settings, rule, list(rules_in_force(settings).values()), since, until)
    print_preview(result, as_json, wide)
    return result


def _backfill(settings: Any, rule: Any, since_text: str) -> None:
    from streams.cli.trywatch import publish_backfill, rules_in_force, run_preview
    from streams.web.preview import check_previewable

    since, until = _window(since_text)
    try:
        check_previewable(rule)
    except ValueError as exc:
        fail(str(exc))
    result = run_preview(settings, rule, list(rules_in_force(settings).values()), since, until)
    sent = publish_backfill(settings, result, until)
    closed = len(result.alerts) - sent
    console.print(
        f"backfill: raised {sent} alert(s) of stories still open" + (f"; {closed} of closed stories not raised" if closed else "")
    )


@watch.command("test")
@click.argument("rule_id")
@click.option("--since", "since_text", default="7d", show_default=True, help="The period to try the rule on: 7d, 24h, 30m or an ISO date.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--wide", is_flag=True, help=WIDE_HELP)
def watch_test(rule_id: str, since_text: str, as_json: bool, wide: bool) -> None:
    """What rule RULE_ID (or a unique start of it) would have sent over the stored articles: one row per alert."""
    from streams.cli.trywatch import find_rule, rules_in_force

    settings = get_settings()
    rules = rules_in_force(settings)
    rule = find_rule(rules, rule_id)
    if rule is None:
        fail(f"no watch rule {rule_id!r} (or more than one starts so): see 'wirewatch watch list'")
    _preview(settings, rule, since_text, as_json, wide)


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


@watch.command("disable")
@click.argument("rule_id")
def watch_disable(rule_id: str) -> None:
    """Keep a rule but raise no alert from it (by rule id or a unique start of one)."""
    _switch(rule_id, False)


@watch.command("enable")
@click.argument("rule_id")
def watch_enable(rule_id: str) -> None:
    """Raise alerts from a disabled rule again."""
    _switch(rule_id, True)


def _switch(rule_id: str, enabled: bool) -> None:
    from schemas import WatchRule, decode
    from streams.alert.actions import find_rule, with_enabled
    from streams.errors import InputError
    from streams.kafka.client import compacted_state, publish

    settings = get_settings()
    rules = {key: decode(WatchRule, value) for key, value in run_async(compacted_state(settings, "rules")).items()}
    try:
        rule = with_enabled(find_rule(rules, rule_id), enabled)
    except InputError as exc:
        fail(str(exc))
    run_async(publish(settings, "rules", [(rule.id, rule)]))
    out.print(f"{'enabled' if enabled else 'disabled'} rule {rule.id} ({rule.entity.name!r}, {rule.kind})")


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
            rule.kind if rule.enabled else f"{rule.kind} (off)",
            escape(rule.entity.name),
            escape(", ".join(rule.entity.aliases)),
            rule.entity.type or "",
            escape(describe(rule)),
        ]
        for rule in rules
    ]
    print_rows(columns, rows, wide)
