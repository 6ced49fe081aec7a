"""Alert delivery: Standard Webhooks signing, webhook, Slack, e-mail, console and file destinations with retries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
import aiosmtplib
import orjson

from schemas import Alert, Digest, encode
from streams.fetch import AddressGuard, BlockedAddress, retry_after_seconds

log = logging.getLogger(__name__)
alert_log = logging.getLogger("wirewatch.alerts")


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
    """Every attempt to deliver an alert failed, or the endpoint refused it; the alert goes to the dead-letter topic."""


class Gone(DeliveryFailed):
    """The endpoint answered 410 (``newly``) or did so before: it wants no more deliveries, so the destination is disabled."""

    def __init__(self, message: str, newly: bool = False) -> None:
        super().__init__(message)
        self.newly = newly


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to: delivered, worth retrying (maybe after ``retry_after``), or final."""

    status: Literal["ok", "retry", "refused", "gone"]
    error: str = ""
    retry_after: float | None = None


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None, jitter: float | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): exponential with jitter, never less than Retry-After.

    The jitter factor lies in [0.5, 1.5) so many workers retrying one endpoint spread out; the server's
    ``Retry-After`` is a floor the jitter cannot undercut, and may exceed ``cap`` (the server knows best).
    """
    factor = 0.5 + (random.random() if jitter is None else jitter)  # noqa: S311 - jitter, not crypto
    delay = min(cap, base * 2 ** (attempt - 1) * factor)
    return float(max(delay, retry_after or 0.0))


class Destination:
    """Where alerts go. Subclasses make one attempt; :meth:`send` retries with backoff until a final outcome."""

    kind = "destination"
    #: push destinations (webhook, Slack, e-mail) get an alert once; later copies of its story (updates) are not pushed
    pushes = True
    #: destinations that take digests (webhook, Slack, e-mail); the console and the file get every alert as it comes
    digests = False

    def __init__(self, name: str, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 300.0) -> None:
        self.name = name
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.disabled = False
        #: set by a ``digest:hourly:`` / ``digest:daily:`` spec: every alert to this destination goes into its digest
        self.digest_period: Literal["hourly", "daily"] | None = None

    async def attempt(self, alert: Alert) -> Outcome:
        raise NotImplementedError

    async def attempt_digest(self, digest: Digest) -> Outcome:
        return Outcome("refused", f"{self.kind} destinations take alerts one by one, not digests")

    async def close(self) -> None:
        return None

    async def send(self, alert: Alert) -> int:
        """Deliver ``alert``; returns the number of attempts made or raises :class:`DeliveryFailed` / :class:`Gone`."""
        return await self._retry(f"alert {alert.id}", lambda: self.attempt(alert))

    async def send_digest(self, digest: Digest) -> int:
        """Deliver a digest, retried like an alert."""
        return await self._retry(f"digest {digest.id}", lambda: self.attempt_digest(digest))

    async def _retry(self, what: str, attempt_once: Callable[[], Awaitable[Outcome]]) -> int:
        if self.disabled:
            raise Gone(f"{self.name} is disabled (it answered 410 Gone; re-enable with 'wirewatch destinations enable')")
        last = "no attempt"
        for attempt in range(1, self.attempts + 1):
            outcome = await attempt_once()
            if outcome.status == "ok":
                return attempt
            if outcome.status == "gone":
                self.disabled = True
                raise Gone(f"{self.name} answered 410 Gone to {what}; destination disabled", newly=True)
            if outcome.status == "refused":
                raise DeliveryFailed(f"{self.name} refused {what}: {outcome.error}")
            last = outcome.error
            if attempt < self.attempts:
                await asyncio.sleep(backoff_delay(attempt, self.base_delay, self.max_delay, outcome.retry_after))
        raise DeliveryFailed(f"{self.name}: {self.attempts} attempts failed for {what}, last: {last}")


def check_url(url: str, guard: AddressGuard) -> None:
    """Refuse a destination URL up front when it is not http(s) or names a forbidden IP address literally.

    Hostnames are checked again at connect time by the guard (every resolved address), as for feeds.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"destination {redact(url)}: only http(s) URLs with a host can receive alerts")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return
    try:
        guard.check(str(address))
    except BlockedAddress as exc:
        raise ValueError(f"destination {redact(url)}: {exc}") from exc


def redact(url: str) -> str:
    """The URL without path or query, which often hold tokens (Slack hooks, webhook secrets)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..." if parts.path not in ("", "/") or parts.query else url


class _HTTPDestination(Destination):
    digests = True

    def __init__(self, url: str, guard: AddressGuard, timeout: float = 10.0, **retry: float) -> None:
        check_url(url, guard)
        super().__init__(f"{self.kind} {redact(url)}", **retry)  # type: ignore[arg-type]
        self.url = url
        self.guard = guard
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(socket_factory=self.guard.socket_factory)
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, body: bytes, headers: dict[str, str]) -> Outcome:
        try:
            async with self._client().post(self.url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return Outcome("ok")
                if response.status == 410:
                    return Outcome("gone", "HTTP 410")
                if response.status in (408, 425, 429) or response.status >= 500:
                    return Outcome("retry", f"HTTP {response.status}", retry_after_seconds(response.headers.get("Retry-After")))
                return Outcome("refused", f"HTTP {response.status}")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, BlockedAddress):
                return Outcome("refused", str(exc.os_error))
            return Outcome("retry", f"cannot connect: {exc.os_error}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome("retry", f"{type(exc).__name__}: {exc}")


class WebhookDestination(_HTTPDestination):
    """POSTs each alert as JSON with Standard Webhooks headers; the alert id is the ``webhook-id`` of every attempt."""

    kind = "webhook"

    def __init__(self, url: str, secret: str | None, guard: AddressGuard, timeout: float = 10.0, **retry: float) -> None:
        super().__init__(url, guard, timeout, **retry)
        self.secret = secret

    async def attempt(self, alert: Alert) -> Outcome:
        return await self._signed(alert.id, encode(alert))

    async def attempt_digest(self, digest: Digest) -> Outcome:
        return await self._signed(digest.id, encode(digest))

    async def _signed(self, msg_id: str, body: bytes) -> Outcome:
        timestamp = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
        if self.secret:
            headers["webhook-signature"] = sign_webhook(self.secret, msg_id, timestamp, body)
        return await self._post(body, headers)


def slack_escape(text: str) -> str:
    """Slack mrkdwn escaping: ``&``, ``<`` and ``>`` become entities, so ``<!channel>`` or a link in a title is inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(alert: Alert) -> str:
    """The Slack message of an alert: every piece of feed-controlled text escaped."""
    evidence = slack_escape(alert.evidence)
    title = slack_escape(alert.title)
    link = f"<{slack_escape(alert.url)}|{title}>" if alert.url.startswith(("http://", "https://")) else title
    sources = f" ({alert.source_count} sources)" if alert.source_count > 1 else ""
    return f"*{slack_escape(alert.kind)}*: {slack_escape(alert.entity_name)}\n{evidence}\n{link}{sources}"


def digest_heading(digest: Digest) -> str:
    """``3 alerts, 2026-11-01 09:00-10:00 UTC`` (the day alone for a daily digest)."""
    when = (
        f"{digest.period_start:%Y-%m-%d}" if digest.period == "daily" else f"{digest.period_start:%Y-%m-%d %H:%M}-{digest.period_end:%H:%M}"
    )
    return f"{digest.count} alert{'s' if digest.count != 1 else ''}, {when} UTC"


def slack_digest_text(digest: Digest) -> str:
    """One Slack message listing a digest's alerts, every feed-controlled text escaped."""
    lines = [f"*Wirewatch {digest.period} digest*: {digest_heading(digest)}"]
    for alert in digest.alerts:
        link = (
            f"<{slack_escape(alert.url)}|{slack_escape(alert.title)}>"
            if alert.url.startswith(("http://", "https://"))
            else slack_escape(alert.title)
        )
        lines.append(f"• *{slack_escape(alert.kind)}* {slack_escape(alert.entity_name)}: {slack_escape(alert.evidence)} ({link})")
    if digest.count > len(digest.alerts):
        lines.append(f"… and {digest.count - len(digest.alerts)} more (wirewatch alerts)")
    return "\n".join(lines)


class SlackDestination(_HTTPDestination):
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


@dataclass(frozen=True)
class SMTPSettings:
    """Where and how e-mail alerts are sent."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 20.0


def email_message(alert: Alert, sender: str, recipients: list[str]) -> EmailMessage:
    """A plain-text e-mail of an alert; headers are set through EmailMessage, which refuses CR/LF injection."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = " ".join(f"[wirewatch] {alert.kind}: {alert.entity_name} - {alert.title}".split())[:200]
    message["Message-ID"] = f"<{alert.id}@wirewatch>"
    sources = f"\nSources: {', '.join(alert.sources)} ({alert.source_count})" if alert.sources else ""
    message.set_content(f"{alert.evidence}\n\n{alert.title}\n{alert.url}{sources}\n\nrule {alert.rule_id}, alert {alert.id}\n")
    return message


def email_digest(digest: Digest, sender: str, recipients: list[str]) -> EmailMessage:
    """One plain-text e-mail listing a digest's alerts."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"[wirewatch] {digest.period} digest: {digest_heading(digest)}"
    message["Message-ID"] = f"<{digest.id}@wirewatch>"
    blocks = [f"{alert.kind}: {alert.entity_name}\n{alert.evidence}\n{alert.title}\n{alert.url}".rstrip() for alert in digest.alerts]
    if digest.count > len(digest.alerts):
        blocks.append(f"... and {digest.count - len(digest.alerts)} more (wirewatch alerts)")
    message.set_content("\n\n".join(blocks) + f"\n\ndigest {digest.id}\n")
    return message


class EmailDestination(Destination):
    """E-mail over SMTP (aiosmtplib); the SMTP server's address passes the same guard as feeds and webhooks."""

    kind = "email"
    digests = True

    def __init__(self, recipients: list[str], smtp: SMTPSettings, guard: AddressGuard, **retry: float) -> None:
        if not recipients or not all("@" in r for r in recipients):
            raise ValueError(f"e-mail destination: invalid recipients {recipients!r}")
        super().__init__(f"email {', '.join(recipients)}", **retry)  # type: ignore[arg-type]
        self.recipients = recipients
        self.smtp = smtp
        self.guard = guard

    async def _address(self) -> str:
        infos = await asyncio.get_running_loop().getaddrinfo(self.smtp.host, self.smtp.port, type=0)
        for info in infos:
            self.guard.check(str(info[4][0]))
        return str(infos[0][4][0])

    async def attempt(self, alert: Alert) -> Outcome:
        return await self._mail(email_message(alert, self.smtp.sender, self.recipients))

    async def attempt_digest(self, digest: Digest) -> Outcome:
        return await self._mail(email_digest(digest, self.smtp.sender, self.recipients))

    async def _mail(self, message: EmailMessage) -> Outcome:
        try:
            address = await self._address()
        except BlockedAddress as exc:
            return Outcome("refused", f"SMTP server {self.smtp.host}: {exc}")
        except OSError as exc:
            return Outcome("retry", f"SMTP server {self.smtp.host}: {exc}")
        try:
            await aiosmtplib.send(
                message,
                # connect to the address the guard checked; with STARTTLS the certificate names the host, so the
                # name is used there (a resolver changing its answer within these milliseconds is the residual risk)
                hostname=self.smtp.host if self.smtp.starttls else address,
                port=self.smtp.port,
                username=self.smtp.username,
                password=self.smtp.password,
                start_tls=self.smtp.starttls,
                timeout=self.smtp.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return Outcome("refused", f"recipients refused: {exc}")
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome("refused" if 500 <= exc.code < 600 else "retry", f"SMTP {exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Outcome("retry", f"{type(exc).__name__}: {exc}")
        return Outcome("ok")


class FileDestination(Destination):
    """Appends every alert, updates included, as one JSON line."""

    kind = "file"
    pushes = False

    def __init__(self, path: Path) -> None:
        super().__init__(f"file {path}", attempts=1)
        self.path = path

    async def attempt(self, alert: Alert) -> Outcome:
        try:
            append_jsonl(self.path, alert)
        except OSError as exc:
            return Outcome("refused", f"cannot write {self.path}: {exc}")
        return Outcome("ok")


class ConsoleDestination(Destination):
    """One log line per alert on the ``wirewatch.alerts`` logger."""

    kind = "console"

    def __init__(self) -> None:
        super().__init__("console", attempts=1)

    async def attempt(self, alert: Alert) -> Outcome:
        alert_log.warning(console_line(alert), extra={"alert_id": alert.id, "article_id": alert.article_id})
        return Outcome("ok")


def append_jsonl(path: Path, alert: Alert) -> None:
    """Append the alert as one JSON line (the file destination)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        handle.write(encode(alert) + b"\n")


def console_line(alert: Alert) -> str:
    """One human line for the console destination."""
    return f"ALERT [{alert.kind}] {alert.entity_name}: {alert.evidence} ({alert.title} <{alert.url}>)"
