"""``wirewatch config``: the effective settings, secrets masked."""

from __future__ import annotations

import click
from rich.markup import escape

from streams.cli.common import console, print_json
from streams.cli.tables import WIDE_HELP, Column, print_rows
from streams.config import get_settings


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--wide", is_flag=True, help=WIDE_HELP)
def config(as_json: bool, wide: bool) -> None:
    """Print the effective settings, secrets masked."""
    from streams.deliver.specs import default_destinations, unsigned_warning, unsigned_webhooks

    settings = get_settings()
    values = settings.masked()
    if as_json:
        print_json(values)
    else:
        # the variable names the setting: its lowercase name is for --wide (and settings files)
        columns = [Column("setting", wide_only=True), Column("environment variable", short=True), Column("value")]
        print_rows(columns, [[name, f"WIREWATCH_{name.upper()}", escape(str(value))] for name, value in values.items()], wide)
    unsigned = unsigned_webhooks(default_destinations(settings), settings)
    if unsigned:
        console.print(f"[yellow]warning:[/] {escape(unsigned_warning(unsigned))}")
