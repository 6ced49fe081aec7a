"""Figures the tests measured (RELIABILITY.md rows and the like): printed at the end of the run, written as JSON.

A test asserts outcomes, never times; what it measured on the way (seconds, megabytes, counts) goes here, so the
run's summary shows the figure each row states and docs/reliability.md can quote the last run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ARTIFACTS = Path(os.environ.get("WIREWATCH_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


@dataclass(frozen=True)
class Figure:
    """One measured figure: the row it belongs to, what was measured, the value and its unit."""

    row: str
    name: str
    value: float | int | str
    unit: str = ""
    test: str = ""


FIGURES: list[Figure] = []


def record_figure(row: str, name: str, value: float | int | str, unit: str = "") -> None:
    """Keep a figure for the end-of-run summary (the current test's id is added)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    FIGURES.append(Figure(row, name, round(value, 3) if isinstance(value, float) else value, unit, test))


def summary_lines() -> list[str]:
    """The figures grouped by row, one line each."""
    lines: list[str] = []
    for row in dict.fromkeys(figure.row for figure in FIGURES):
        lines.append(row)
        lines += [f"    {f.name}: {f.value} {f.unit}".rstrip() + (f"   ({f.test})" if f.test else "") for f in FIGURES if f.row == row]
    return lines


def write_json() -> Path | None:
    """Write the figures to test-artifacts/figures.json; None when there are none."""
    if not FIGURES:
        return None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "figures.json"
    path.write_text(json.dumps([asdict(figure) for figure in FIGURES], indent=2), "utf-8")
    return path
