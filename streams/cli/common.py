"""What every command shares: the consoles, running a coroutine with a clear error, JSON output."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, NoReturn

import orjson
from rich.console import Console
from rich.markup import escape

from streams.errors import BrokerUnavailable, InputError

console = Console(stderr=True)
out = Console()


def run_async(coro: Any) -> Any:
    """Run ``coro``; no broker or bad input ends the command with one line on stderr and exit 2, never a traceback."""
    try:
        return asyncio.run(coro)
    except (BrokerUnavailable, InputError) as exc:
        fail(str(exc))


def fail(message: str, code: int = 2) -> NoReturn:
    """End the command with ``error: message`` on stderr (markup in the message is shown as typed)."""
    console.print(f"[red]error:[/] {escape(message)}")
    sys.exit(code)


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout, for machines."""
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")
