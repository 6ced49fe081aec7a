"""Logging: human lines by default, JSON lines with stable keys when ``WIREWATCH_LOG_JSON`` is on."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

from streams.config import Settings
from streams.text import escape_controls

#: the record attributes copied into JSON logs when an ``extra=`` supplies them
STABLE_KEYS = ("feed_id", "article_id", "agent", "alert_id", "rule_id", "error_kind")
#: what starts every line of a traceback in plain-text logs, so no line of it can pass for a record of its own
CONTINUATION = "  | "


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in STABLE_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class PlainFormatter(logging.Formatter):
    """One line per record: the message and its arguments with control characters escaped.

    Feed text reaches log messages (titles, URLs, error strings); a newline in it would start a forged record,
    an ESC would recolour the terminal. A traceback keeps its lines, each one escaped and prefixed with
    :data:`CONTINUATION`, so only a record's first line starts at the left margin.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's own name
        return self._style.format(_Escaped(record))

    def formatException(self, ei: object) -> str:  # noqa: N802
        return _continuation(super().formatException(ei))  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return _continuation(stack_info)


class _Escaped:
    """A record's attributes as the format string reads them, the message (and logger name) escaped."""

    def __init__(self, record: logging.LogRecord) -> None:
        self.__dict__.update(record.__dict__)
        self.message = escape_controls(record.message)
        self.name = escape_controls(record.name)


def _continuation(text: str) -> str:
    # split on newlines only: a carriage return, NEL or line separator inside a line is escaped, not a line break
    return "\n".join(CONTINUATION + escape_controls(line) for line in text.rstrip("\n").split("\n"))


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_json else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
