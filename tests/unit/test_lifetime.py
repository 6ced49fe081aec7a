"""A child started with die_with_parent ends when its parent is killed outright, with the signal asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streams.config import ROOT
from tests.e2e.helpers import alive, wait_for

# the child records the signal that ends it in the file named by its argument, after writing "ready" there
CHILD = """
import signal, sys, time
from pathlib import Path
record = Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda signum, frame: (record.write_text(signal.Signals(signum).name), sys.exit(0)))
record.write_text("ready")
time.sleep(600)
"""

# the parent starts that child, prints its pid and waits to be killed
PARENT = """
import subprocess, sys, time
from streams.lifetime import die_with_parent
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], preexec_fn=die_with_parent)
print(child.pid, flush=True)
time.sleep(600)
"""


def reads(path: Path, text: str) -> bool:
    return path.exists() and path.read_text() == text


def test_a_parent_killed_outright_takes_its_child_along_with_sigterm(tmp_path: Path) -> None:
    record = tmp_path / "signal"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD, str(record)], cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        wait_for("the child to set its handler", lambda: reads(record, "ready"), 60, interval=0.05)
        parent.kill()
        parent.wait(30)
        # SIGTERM, the way `make stop` stops a worker: it drains first
        wait_for("the child to record SIGTERM", lambda: reads(record, "SIGTERM"), 60, interval=0.05)
        wait_for("the child to end with its parent", lambda: not alive(pid), 30, interval=0.1)
    finally:
        parent.kill()
