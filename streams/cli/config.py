"""``wirewatch config``: the effective settings, secrets masked."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from streams.cli.common import console, out, print_json
from streams.config import get_settings


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def config(as_json: bool) -> None:
    """Print the effective settings, secrets masked."""
    from streams.deliver.specs import default_destinations, unsigned_warning, unsigned_webhooks

    settings = get_settings()
    values = settings.masked()
    if as_json:
        print_json(values)
    else:
        table = Table("setting", "environment variable", "value")
        for name, value in values.items():
            table.add_row(name, f"WIREWATCH_{name.upper()}", str(value))
        out.print(table)
    unsigned = unsigned_webhooks(default_destinations(settings), settings)
    if unsigned:
        console.print(f"[yellow]warning:[/] {escape(unsigned_warning(unsigned))}")
