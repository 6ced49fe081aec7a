"""``wirewatch destinations``: destinations in use and which are disabled after a 410 Gone."""

from __future__ import annotations

from datetime import datetime

import click
import orjson

from streams.cli.common import console, fail, out, print_json, run_async
from streams.cli.tables import WIDE_HELP, Column, print_rows
from streams.config import get_settings


@click.group("destinations", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--wide", is_flag=True, help=WIDE_HELP)
@click.pass_context
def destinations(ctx: click.Context, as_json: bool, wide: bool) -> None:
    """List alert destinations (defaults and rules' own) and which are disabled after a 410 Gone."""
    if ctx.invoked_subcommand is not None:
        return
    from schemas import DestinationState, WatchRule, decode
    from streams.deliver.specs import default_destinations, destination_id
    from streams.kafka.client import compacted_state
    from streams.text import mask_destination

    settings = get_settings()

    async def load() -> tuple[dict[str, bytes], dict[str, bytes]]:
        return await compacted_state(settings, "destinations"), await compacted_state(settings, "rules")

    states, rule_values = run_async(load())
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
        rows.append({"id": destination_id(spec), "destination": mask_destination(spec), "rules": rules_of.get(spec, 0),
                     "disabled": state is not None, "since": state.since.isoformat() if state else None,
                     "reason": state.reason if state else ""})  # fmt: skip
    if as_json:
        print_json(rows)
        return
    from rich.markup import escape

    from streams.clock import human_ago, utcnow

    now = utcnow()

    def state_of(row: dict[str, object]) -> str:
        if not row["disabled"]:
            return "enabled"
        since = datetime.fromisoformat(str(row["since"]))
        when = str(row["since"])[:19] if wide else human_ago((now - since).total_seconds())
        return f"[red]disabled[/] {when}: {escape(str(row['reason']))}"

    columns = [Column("id", short=True), Column("destination", cut=True), Column("rules", short=True), Column("state")]
    cells = [
        [str(row["id"]), escape(str(row["destination"])), str(row["rules"]) if row["rules"] else "default", state_of(row)] for row in rows
    ]
    print_rows(columns, cells, wide)
    if disabled:
        console.print(f"{len(disabled)} disabled; re-enable one with: wirewatch destinations enable ID")


@destinations.command("enable")
@click.argument("id_or_spec")
def destinations_enable(id_or_spec: str) -> None:
    """Re-enable a destination disabled after a 410 Gone (by id from 'destinations', or its spec); workers resume within seconds."""
    from streams.deliver.specs import destination_id
    from streams.kafka.client import compacted_state, publish

    settings = get_settings()
    states = run_async(compacted_state(settings, "destinations"))
    key = id_or_spec if id_or_spec in states else destination_id(id_or_spec)
    if key not in states:
        fail(f"{id_or_spec!r} is not a disabled destination (see 'wirewatch destinations')")
    run_async(publish(settings, "destinations", [(key, None)]))
    out.print(f"re-enabled destination {key}")


@destinations.command("send-digests")
@click.option("--destination", "only", multiple=True, help="Only the digests for this destination (its spec or id); repeatable.")
def destinations_send_digests(only: tuple[str, ...]) -> None:
    """Send every pending digest now, before its hour or day ends (a running worker sends it within seconds; alerts of
    the same period arriving later go into the next period's digest)."""
    from schemas import DigestItem
    from streams.deliver.digests import PendingDigest, sendable_now
    from streams.deliver.specs import destination_id
    from streams.kafka.catalogue import changelog_topic
    from streams.kafka.client import compacted_state, publish
    from streams.text import mask_destination

    settings = get_settings()
    raw = settings.model_copy(update={"topic_prefix": ""})  # a changelog is named by the app, not by the topic prefix
    state = run_async(compacted_state(raw, changelog_topic(settings, "worker", "digest-pending")))
    wanted = {destination_id(spec) for spec in only} | set(only)
    requests: list[tuple[str, DigestItem]] = []
    for key, value in state.items():
        pending = PendingDigest.loads(value)
        if sendable_now(pending) and (not wanted or destination_id(pending.destination) in wanted):
            item = DigestItem(destination=pending.destination, period=pending.period, period_start=pending.start, now=True)
            requests.append((orjson.loads(key) if key.startswith('"') else key, item))  # Faust writes table keys as JSON
    if not requests:
        console.print("no pending digest to send")
        return
    run_async(publish(settings, "digests", list(requests)))
    for _, item in requests:
        where = mask_destination(item.destination)
        out.print(f"asked the workers to send the {item.period} digest of {item.period_start:%Y-%m-%d %H:%M} UTC to {where}")
