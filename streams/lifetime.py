"""Child processes that end with their parent: Linux signals them when the parent dies (prctl PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import signal
import sys

#: prctl(2)'s option: the signal a process receives when the thread that started it ends
_PR_SET_PDEATHSIG = 1

# loaded here, in the parent: a Popen preexec function runs between fork and exec, where loading a library could
# wait forever on a lock that another thread of the parent held at the fork
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """In a new child (a Popen ``preexec_fn``, a pool's initializer): receive ``signum`` when the parent dies, so a
    parent killed with SIGKILL leaves no orphan behind (SIGTERM by default: the child drains and stops as usual).
    Elsewhere than Linux, nothing."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signum)
