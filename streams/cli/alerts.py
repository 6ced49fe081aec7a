"""``wirewatch alerts``: recent alerts read back from ``wirewatch.alerts``, and ``alerts replay``."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from streams.cli.common import console, marked, out, print_json, run_async
from streams.cli.tables import WIDE_HELP, Column, print_rows
from streams.config import get_settings


@click.group(invoke_without_command=True)
@click.option("--since", default="24h", show_default=True, help="Alerts detected since: 30m, 2h, 7d, 1w or an ISO date.")
@click.option("--limit", "-n", type=click.IntRange(1, 100_000), default=50, show_default=True, help="Most recent alerts shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--wide", is_flag=True, help=WIDE_HELP)
@click.pass_context
def alerts(ctx: click.Context, since: str, limit: int, as_json: bool, wide: bool) -> None:
    """List recent alerts (from the topic wirewatch.alerts); 'alerts replay' re-sends them."""
    if ctx.invoked_subcommand is not None:
        return
    from streams.clock import parse_since
    from streams.deliver.replay import read_alerts

    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    found = run_async(read_alerts(get_settings(), start))[-limit:]
    if as_json:
        from streams.deliver.base import outbound

        print_json([outbound(alert).model_dump(mode="json") for alert in found])  # destinations hold tokens: masked
        return
    from streams.clock import human_ago, utcnow

    now = utcnow()
    columns = [
        Column("detected", short=True),
        Column("kind", short=True),
        Column("entity", cut=True, max_width=24),
        Column("evidence"),
        Column("title", wide_only=True),
        Column("sources", wide_only=True),
    ]
    rows = [
        [
            alert.detected.strftime("%Y-%m-%d %H:%M:%S") if wide else human_ago((now - alert.detected).total_seconds()),
            alert.kind,
            escape(alert.entity_name),
            marked(alert.evidence),
            escape(alert.title),
            str(alert.source_count),
        ]
        for alert in found
    ]
    print_rows(columns, rows, wide)
    console.print(f"{len(found)} alert(s) since {start:%Y-%m-%d %H:%M} UTC")
    from streams.kafka.client import compacted_state

    disabled = run_async(compacted_state(get_settings(), "destinations"))
    if disabled:
        console.print(f"[red]{len(disabled)} destination(s) disabled after 410 Gone[/]: see 'wirewatch destinations'")


@alerts.command("replay")
@click.option("--since", required=True, help="Re-send alerts detected since: 30m, 2h, 7d, 1w or an ISO date.")
@click.option("--to", "destination", required=True, help="https://..., slack:https://..., mailto:a@x, file:PATH or console.")
def alerts_replay(since: str, destination: str) -> None:
    """Re-send recent alerts to one destination (same ids: webhook receivers deduplicate on webhook-id)."""
    from rich.progress import Progress

    from streams.clock import parse_since
    from streams.deliver.replay import read_alerts, replay
    from streams.deliver.specs import validate_destination

    settings = get_settings()
    try:
        start = parse_since(since)
        validate_destination(destination, settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    found = run_async(read_alerts(settings, start))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(found))
        errors = run_async(replay(settings, found, destination, lambda: progress.advance(task)))
    for error in errors:
        console.print(f"[red]failed:[/] {error}")
    out.print(f"replayed {len(found) - len(errors)} of {len(found)} alert(s) since {start:%Y-%m-%d %H:%M} UTC")
    if errors:
        sys.exit(1)
