"""Destinations on this machine: the console line and the JSON-lines file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from schemas import Alert, encode
from streams.deliver.base import Destination, Outcome, outbound
from streams.text import escape_controls, without_marks

alert_log = logging.getLogger("wirewatch.alerts")


class FileDestination(Destination):
    """Appends every alert, updates included, as one JSON line."""

    kind = "file"
    pushes = False

    def __init__(self, path: Path, root: Path | None = None) -> None:
        super().__init__(f"file {path}", attempts=1)
        self.path = path
        #: the directory the file must stay in (checked again at every write); None for the operator's alerts file
        self.root = root

    async def attempt(self, alert: Alert) -> Outcome:
        try:
            append_jsonl(self.path, alert, self.root)
        except OSError as exc:
            return Outcome("refused", f"cannot write {self.path}: {exc}")
        return Outcome("ok")


class ConsoleDestination(Destination):
    """One log line per alert on the ``wirewatch.alerts`` logger."""

    kind = "console"

    def __init__(self) -> None:
        super().__init__("console", attempts=1)

    async def attempt(self, alert: Alert) -> Outcome:
        alert_log.warning(console_line(alert), extra={"alert_id": alert.id, "article_id": alert.article_id})
        return Outcome("ok")


def append_jsonl(path: Path, alert: Alert, root: Path | None = None) -> None:
    """Append the alert as one JSON line (the file destination); inside ``root`` when given, never through a symlink.

    A symlink planted after the destination was checked would lead the write elsewhere: the path is resolved
    again, and the file is opened with ``O_NOFOLLOW``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    if root is not None:
        if not path.parent.resolve().is_relative_to(root):
            raise OSError(f"{path} now leads outside {root}")
        flags |= os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o666), "ab") as handle:
        handle.write(encode(outbound(alert)) + b"\n")


def console_line(alert: Alert) -> str:
    """One human line for the console destination; feed text with newlines or terminal codes stays on it, escaped."""
    e = escape_controls
    evidence = e(without_marks(alert.evidence))  # a log line has no bold: the marks would show as typed
    return f"ALERT [{e(alert.kind)}] {e(alert.entity_name)}: {evidence} ({e(alert.title)} <{e(alert.url)}>)"
