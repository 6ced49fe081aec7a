"""What every command shares: the consoles, running a coroutine with a clear error, JSON output."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, NoReturn

import orjson
from rich.console import Console
from rich.markup import escape

from streams.errors import BrokerUnavailable, InputError, SinkUnavailable

console = Console(stderr=True)
out = Console()


def run_async(coro: Any) -> Any:
    """Run ``coro``; no broker, no database or bad input ends the command with one line on stderr and exit 2, never a
    traceback."""
    try:
        return asyncio.run(coro)
    except (BrokerUnavailable, SinkUnavailable, InputError) as exc:
        fail(str(exc))


def fail(message: str, code: int = 2) -> NoReturn:
    """End the command with ``error: message`` on stderr (markup in the message is shown as typed)."""
    # one line, however long: rich would wrap it at the terminal's width (80 columns when not a terminal)
    console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(code)


def marked(text: str) -> str:
    """Evidence as rich markup: the watched name between ``**`` marks (streams/alert/mentions.py) in bold, the rest
    shown as typed (feed text with ``[red]`` in it stays text). Unbalanced marks are dropped, never printed."""
    parts = text.split("**")
    if len(parts) % 2 == 0:  # an odd number of marks: which span was meant cannot be known
        return escape(text.replace("**", ""))
    return "".join(f"[bold]{escape(part)}[/]" if index % 2 else escape(part) for index, part in enumerate(parts) if part)


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout, for machines."""
    try:
        text = orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode()
    except TypeError:  # an integer beyond 64 bits (a setting, say): the standard library writes any size
        text = json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(text + "\n")
