"""Tables that fit the terminal: the columns that matter at 80 columns, cut or folded to fit; the rest with ``--wide``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from streams.cli.common import out

#: the option every table command takes
WIDE_HELP = "Show every column, none cut (lines as long as they need)."
#: a cut or folded column is never made narrower than this
_MIN_FLEXIBLE = 8


@dataclass(frozen=True)
class Column:
    """One column: its header, whether only ``--wide`` shows it, and how a narrow table fits it in.

    ``short`` columns (a status, "12 min ago") keep their whole width; the others share what is left: ``cut`` ones
    (ids, URLs, errors) on one line with an ellipsis, the rest (evidence, snippets) folded over several lines.
    """

    header: str
    wide_only: bool = False
    cut: bool = False
    short: bool = False
    #: at most this many characters wide in a narrow table
    max_width: int | None = None


def print_rows(columns: Sequence[Column], rows: Sequence[Sequence[str]], wide: bool, title: str | None = None) -> None:
    """Print ``rows`` (rich markup, one cell per column, wide-only ones included) as a table on stdout.

    Narrow, it fits the terminal (80 columns when not a terminal): short columns at their natural width, the
    others sharing the rest. Wide, every column is shown and nothing is cut, however long the lines.
    """
    shown = [index for index, column in enumerate(columns) if wide or not column.wide_only]
    table = Table(title=title)
    widths = None if wide else _widths([columns[i] for i in shown], [[row[i] for i in shown] for row in rows], out.width)
    for position, index in enumerate(shown):
        column = columns[index]
        if widths is None:
            table.add_column(column.header, overflow="fold")
        else:
            one_line = column.cut or column.short
            table.add_column(column.header, overflow="ellipsis" if one_line else "fold", no_wrap=one_line, width=widths[position])
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    if wide:
        # a console of its own: print(width=) can only narrow the terminal's; the table is as wide as its cells
        Console(width=100_000, file=out.file, no_color=out.no_color, force_terminal=out.is_terminal).print(table)
    else:
        out.print(table)


def _widths(columns: Sequence[Column], rows: Sequence[Sequence[str]], total: int) -> list[int]:
    natural = [max([len(column.header)] + [Text.from_markup(row[i]).cell_len for row in rows]) for i, column in enumerate(columns)]
    natural = [min(width, column.max_width) if column.max_width else width for width, column in zip(natural, columns, strict=True)]
    room = total - (3 * len(columns) + 1)  # "│ " before each cell, " " after it, and the last "│"
    flexible = [i for i, column in enumerate(columns) if not column.short]
    fixed = sum(natural[i] for i, column in enumerate(columns) if column.short)
    widths = list(natural)
    wanted = sum(natural[i] for i in flexible)
    left = room - fixed
    if flexible and wanted > left:
        # shared in proportion to what each would take, none below a readable minimum
        for i in flexible:
            widths[i] = max(_MIN_FLEXIBLE, min(natural[i], natural[i] * left // max(wanted, 1)))
    return widths
