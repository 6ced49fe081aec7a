"""The schema migrations of each backend as ``.sql`` files, applied once, in file-name order, and never edited."""

from __future__ import annotations

import functools
from pathlib import Path

HERE = Path(__file__).resolve().parent


@functools.cache
def migrations(backend: str) -> tuple[str, ...]:
    """The migration scripts of ``backend`` (``sqlite`` or ``postgres``), oldest first; migration N is element N - 1."""
    return tuple(path.read_text("utf-8") for path in sorted((HERE / backend).glob("*.sql")))


def split_statements(script: str) -> list[str]:
    """Split a migration into statements (comment lines dropped), keeping trigger bodies whole."""
    statements, current = [], []
    for line in script.strip().splitlines():
        if line.lstrip().startswith("--"):
            continue
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and (not joined.upper().startswith("CREATE TRIGGER") or joined.upper().endswith("END;")):
            statements.append(joined)
            current = []
    return statements
