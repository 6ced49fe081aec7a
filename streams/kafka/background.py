"""Timer ticks and follower tasks that fail without ending the process: logged, counted, tried again."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from streams.kafka.metrics import BACKGROUND_FAILURES

log = logging.getLogger(__name__)

#: the longest pause before a failed follower task starts again (it doubles from one second)
FOLLOW_RETRY_MAX_SECONDS = 30.0


def survives(tick: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], Coroutine[Any, Any, None]]:
    """A timer's tick whose failure is logged, counted and tried again at the next tick.

    In Faust an exception that leaves a timer or a task stops the whole worker (exit code 1): one sweep refused
    by a broker that is electing a leader must not end the process that holds every partition's work.
    """

    @functools.wraps(tick)
    async def guarded() -> None:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - see above: tried again at the next tick
            BACKGROUND_FAILURES.labels(tick.__name__).inc()
            log.error("%s failed, tried again at its next tick: %s: %s", tick.__name__, type(exc).__name__, exc, exc_info=exc)

    return guarded


async def keep_following(name: str, follow: Callable[[], Awaitable[None]], first_pause: float = 1.0) -> None:
    """Run a follower (a task reading a topic for as long as the process lives) again whenever it fails, after a
    pause that doubles up to :data:`FOLLOW_RETRY_MAX_SECONDS`: a broker away for a while costs a pause, not the worker."""
    pause = first_pause
    while True:
        try:
            await follow()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - see above
            BACKGROUND_FAILURES.labels(name).inc()
            log.error("%s failed, started again in %.0f s: %s: %s", name, pause, type(exc).__name__, exc, exc_info=exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, FOLLOW_RETRY_MAX_SECONDS)
