"""``wirewatch config``: the effective settings, secrets masked."""

from __future__ import annotations

import click
from rich.table import Table

from streams.cli.common import out, print_json
from streams.config import get_settings


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def config(as_json: bool) -> None:
    """Print the effective settings, secrets masked."""
    values = get_settings().masked()
    if as_json:
        print_json(values)
        return
    table = Table("setting", "environment variable", "value")
    for name, value in values.items():
        table.add_row(name, f"WIREWATCH_{name.upper()}", str(value))
    out.print(table)
