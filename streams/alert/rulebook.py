"""The live rulebook: every worker follows ``wirewatch.rules`` from its start, so a rule change applies within seconds."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from schemas import WatchRule, decode
from streams.alert.queryindex import QueryIndex
from streams.config import Settings
from streams.enrich.gazetteer import Watchlist
from streams.errors import DecodeError, InputError
from streams.kafka.follower import CompactedFollower
from streams.text import mask_urls_in

log = logging.getLogger(__name__)

#: checks a decoded rule beyond its schema (its destinations, say); raises InputError with the reason
RuleCheck = Callable[[WatchRule], None]
#: hears of a rules-topic record that was refused, with the reason (the worker dead-letters it)
RuleRejected = Callable[[Any, str], Awaitable[None]]


class RuleBook(CompactedFollower):
    """The worker's live watchlist: every valid rule of ``wirewatch.rules``.

    Anyone who can write the topic writes rules, so each one is checked as it arrives: it must decode, a query rule's
    query must parse, and ``check`` (the delivering worker's: every destination parses, ``file:`` inside its
    directory, SMTP set for ``mailto:``, webhook URLs past the address guard) must pass. A refused rule is out of force (an older valid
    version of it too: the topic's latest value is what counts), ``on_rejected`` dead-letters it, and every other
    rule keeps working.
    """

    topic_suffix = "rules"

    def __init__(self, settings: Settings, check: RuleCheck | None = None, on_rejected: RuleRejected | None = None) -> None:
        super().__init__(settings)
        self.watchlist = Watchlist()
        #: the query rules in force, indexed by their terms (the story stage matches articles against them)
        self.queries = QueryIndex()
        self.check = check
        self.on_rejected = on_rejected

    def apply(self, key: str, value: bytes | None) -> str | None:
        if value is None:
            self.watchlist.remove(key)
            self.queries.remove(key)
            return None
        try:
            rule = decode(WatchRule, value)
            if rule.id != key:
                raise InputError(f"its id {rule.id!r} is not its key")
            if self.check is not None:
                self.check(rule)
            self.queries.put(rule)  # every worker parses queries, whether or not it checks destinations
        except (DecodeError, InputError) as exc:
            self.watchlist.remove(key)
            self.queries.remove(key)
            reason = mask_urls_in(str(exc))  # a destination in the message may carry its token
            log.error("rule %s refused: %s", key, reason, extra={"rule_id": key})
            return f"rule {key} refused: {reason}"
        self.watchlist.put(rule)
        return None

    async def rejected(self, record: Any, reason: str) -> None:
        if self.on_rejected is None:
            return
        try:
            await self.on_rejected(record, reason)
        except Exception:  # noqa: BLE001 - the rulebook must go on following the topic (a broker hiccup, say)
            log.exception("could not dead-letter a refused rule (%s)", reason)

    def loaded(self) -> None:
        log.info("rules loaded: %d watched", len(self.watchlist.rules))
