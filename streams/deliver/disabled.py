"""Destinations disabled after a 410 Gone: records on the compacted ``wirewatch.destinations`` every worker follows."""

from __future__ import annotations

import logging
from datetime import datetime

from schemas import DestinationState, decode
from streams.config import Settings
from streams.deliver.specs import destination_id
from streams.errors import DecodeError
from streams.kafka.follower import CompactedFollower
from streams.text import mask_destination

log = logging.getLogger(__name__)


def disabled_state(spec: str, reason: str, now: datetime) -> DestinationState:
    """The record that disables ``spec`` for every worker, now and after restarts."""
    return DestinationState(id=destination_id(spec), spec=spec.strip(), name=mask_destination(spec), reason=reason, since=now)


class DestinationBook(CompactedFollower):
    """Every worker's view of the disabled destinations (``wirewatch.destinations``); a tombstone re-enables one."""

    topic_suffix = "destinations"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.disabled: dict[str, DestinationState] = {}

    def apply(self, key: str, value: bytes | None) -> str | None:
        if value is None:
            self.disabled.pop(key, None)
            return None
        try:
            state = decode(DestinationState, value)
        except DecodeError as exc:
            log.error("destination state %s ignored: %s", key, exc)
            return str(exc)
        if state.disabled:
            self.disabled[key] = state
        else:
            self.disabled.pop(key, None)
        return None

    def is_disabled(self, spec: str) -> bool:
        return destination_id(spec) in self.disabled

    def loaded(self) -> None:
        if self.disabled:
            log.warning("%d destination(s) disabled after 410 Gone: %s", len(self.disabled),
                        ", ".join(state.name for state in self.disabled.values()))  # fmt: skip
