"""The live rulebook: every worker follows ``wirewatch.rules`` from its start, so a rule change applies within seconds."""

from __future__ import annotations

import logging

from schemas import WatchRule, decode
from streams.config import Settings
from streams.enrich.gazetteer import Watchlist
from streams.errors import DecodeError
from streams.kafka.follower import CompactedFollower

log = logging.getLogger(__name__)


class RuleBook(CompactedFollower):
    """The worker's live watchlist: every rule of ``wirewatch.rules``."""

    topic_suffix = "rules"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.watchlist = Watchlist()

    def apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.watchlist.remove(key)
            return
        try:
            rule = decode(WatchRule, value)
        except DecodeError as exc:
            log.error("rule %s ignored: %s", key, exc, extra={"rule_id": key})
            return
        self.watchlist.put(rule)

    def loaded(self) -> None:
        log.info("rules loaded: %d watched", len(self.watchlist.rules))
