"""Alert delivery: Standard Webhooks signing, webhook POST with retries, console and JSON-lines file."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import random
import time
from pathlib import Path

import aiohttp

from schemas import Alert, encode
from streams.fetch import AddressGuard, retry_after_seconds

log = logging.getLogger(__name__)


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` + base64), or the raw bytes of any other."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :])
    return secret.encode("utf-8")


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_webhook(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """True when the headers carry a valid signature of ``body`` made within ``tolerance`` seconds."""
    try:
        msg_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign_webhook(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in headers.get("webhook-signature", "").split())


class DeliveryFailed(Exception):
    """Every attempt to deliver an alert failed; the alert goes to the dead-letter topic."""


class Gone(DeliveryFailed):
    """The endpoint answered 410: it wants no more deliveries."""


class WebhookDestination:
    """POSTs each alert as JSON with Standard Webhooks headers; retries 5xx, 429 and network errors."""

    def __init__(
        self, url: str, secret: str | None, guard: AddressGuard, attempts: int = 5, base_delay: float = 0.5, timeout: float = 10.0
    ) -> None:
        self.url = url
        self.secret = secret
        self.guard = guard
        self.attempts = attempts
        self.base_delay = base_delay
        self.timeout = timeout
        self.disabled = False
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(socket_factory=self.guard.socket_factory)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, alert: Alert) -> int:
        """Deliver ``alert``; returns the number of attempts made or raises :class:`DeliveryFailed`."""
        if self.disabled:
            raise Gone(f"webhook {self.url} is disabled (it answered 410 Gone)")
        body = encode(alert)
        last_error = "no attempt"
        for attempt in range(1, self.attempts + 1):
            timestamp = int(time.time())
            headers = {"content-type": "application/json", "webhook-id": alert.id, "webhook-timestamp": str(timestamp)}
            if self.secret:
                headers["webhook-signature"] = sign_webhook(self.secret, alert.id, timestamp, body)
            wait = self.base_delay * 2 ** (attempt - 1) * (0.5 + random.random())  # noqa: S311 - jitter, not crypto
            try:
                async with self._client().post(self.url, data=body, headers=headers, allow_redirects=False) as response:
                    if 200 <= response.status < 300:
                        return attempt
                    if response.status == 410:
                        self.disabled = True
                        raise Gone(f"webhook {self.url} answered 410 Gone; destination disabled")
                    last_error = f"HTTP {response.status}"
                    if response.status == 429 or response.status >= 500:
                        wait = max(wait, retry_after_seconds(response.headers.get("Retry-After")) or 0.0)
                    else:
                        raise DeliveryFailed(f"webhook {self.url} refused the alert: HTTP {response.status}")
            except aiohttp.ClientConnectorError as exc:
                last_error = str(exc.os_error)
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if attempt < self.attempts:
                await asyncio.sleep(wait)
        raise DeliveryFailed(f"webhook {self.url}: {self.attempts} attempts failed, last: {last_error}")


def append_jsonl(path: Path, alert: Alert) -> None:
    """Append the alert as one JSON line (the file destination)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        handle.write(encode(alert) + b"\n")


def console_line(alert: Alert) -> str:
    """One human line for the console destination."""
    return f"ALERT [{alert.kind}] {alert.entity_name}: {alert.evidence} ({alert.title} <{alert.url}>)"
