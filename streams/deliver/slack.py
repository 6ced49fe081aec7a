"""Slack incoming webhooks: every piece of feed text escaped, at most one message per interval per webhook."""

from __future__ import annotations

import asyncio
import time

import orjson

from schemas import Alert, Digest
from streams.deliver.base import Outcome
from streams.deliver.digests import digest_heading
from streams.deliver.webhook import HTTPDestination
from streams.http.guard import AddressGuard
from streams.text import evidence_parts


def slack_escape(text: str) -> str:
    """Slack mrkdwn escaping: ``&``, ``<`` and ``>`` become entities, so ``<!channel>`` or a link in a title is inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_evidence(evidence: str) -> str:
    """The evidence in Slack mrkdwn: escaped, every matched term in bold (``*term*``), no ``**`` left."""
    return "".join(f"*{slack_escape(text.strip())}*" if marked and text.strip() else slack_escape(text)
                   for text, marked in evidence_parts(evidence))  # fmt: skip


def slack_text(alert: Alert) -> str:
    """The Slack message of an alert: every piece of feed-controlled text escaped."""
    evidence = slack_evidence(alert.evidence)
    title = slack_escape(alert.title)
    link = f"<{slack_escape(alert.url)}|{title}>" if alert.url.startswith(("http://", "https://")) else title
    sources = f" ({alert.source_count} sources)" if alert.source_count > 1 else ""
    return f"*{slack_escape(alert.kind)}*: {slack_escape(alert.entity_name)}\n{evidence}\n{link}{sources}"


def slack_digest_text(digest: Digest) -> str:
    """One Slack message listing a digest's alerts, every feed-controlled text escaped."""
    lines = [f"*Wirewatch {digest.period} digest*: {digest_heading(digest)}"]
    for alert in digest.alerts:
        link = (
            f"<{slack_escape(alert.url)}|{slack_escape(alert.title)}>"
            if alert.url.startswith(("http://", "https://"))
            else slack_escape(alert.title)
        )
        lines.append(f"• *{slack_escape(alert.kind)}* {slack_escape(alert.entity_name)}: {slack_evidence(alert.evidence)} ({link})")
    if digest.count > len(digest.alerts):
        lines.append(f"… and {digest.count - len(digest.alerts)} more (wirewatch alerts)")
    return "\n".join(lines)


class SlackDestination(HTTPDestination):
    """A Slack incoming webhook: escaped text, at most one message per ``min_interval`` seconds (Slack's per-channel limit)."""

    kind = "slack"

    def __init__(self, url: str, guard: AddressGuard, min_interval: float = 1.0, timeout: float = 10.0, **retry: float) -> None:
        super().__init__(url, guard, timeout, **retry)
        self.min_interval = min_interval
        self._next_post = 0.0

    async def attempt(self, alert: Alert) -> Outcome:
        return await self._spaced(slack_text(alert))

    async def attempt_digest(self, digest: Digest) -> Outcome:
        return await self._spaced(slack_digest_text(digest))

    async def _spaced(self, text: str) -> Outcome:
        wait = self._next_post - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        body = orjson.dumps({"text": text})
        try:
            return await self._post(body, {"content-type": "application/json"})
        finally:
            # Spaced from the previous answer, not the previous send: a slow first post (connection set-up) must not
            # let the next one arrive less than min_interval after it.
            self._next_post = time.monotonic() + self.min_interval
