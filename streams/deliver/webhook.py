"""HTTP destinations: the guarded client they share, and the signed Standard Webhooks endpoint."""

from __future__ import annotations

import ipaddress
import time
from urllib.parse import urlsplit

import aiohttp

from schemas import Alert, Digest, encode
from streams.deliver.base import Destination, Outcome, outbound
from streams.deliver.signing import sign_webhook
from streams.errors import BlockedAddress, InputError
from streams.http.guard import AddressGuard
from streams.http.headers import retry_after_seconds
from streams.text import mask_url, mask_urls_in


def check_url(url: str, guard: AddressGuard) -> None:
    """Refuse a destination URL up front when it is not http(s) or names a forbidden IP address literally.

    Hostnames are checked again at connect time by the guard (every resolved address), as for feeds.
    """
    try:
        parts = urlsplit(url)
        hostname, _port = parts.hostname, parts.port
    except ValueError as exc:  # an unbalanced [ or a port that is no number from 0 to 65535
        raise InputError(f"destination {mask_url(url)}: not a URL ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        raise InputError(f"destination {mask_url(url)}: only http(s) URLs with a host can receive alerts")
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return
    port = _port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        guard.check(str(address), port)
    except BlockedAddress as exc:
        raise InputError(f"destination {mask_url(url)}: {exc}") from exc


class HTTPDestination(Destination):
    digests = True

    def __init__(self, url: str, guard: AddressGuard, timeout: float = 10.0, **retry: float) -> None:
        check_url(url, guard)
        super().__init__(f"{self.kind} {mask_url(url)}", **retry)  # type: ignore[arg-type]
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
                    # clamped to the longest retry delay: a Retry-After of 400 digits or a date in year 9999 must not park the lane
                    wait = retry_after_seconds(response.headers.get("Retry-After"), maximum=self.max_delay)
                    return Outcome("retry", f"HTTP {response.status}", wait)
                return Outcome("refused", f"HTTP {response.status}")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, BlockedAddress):
                return Outcome("refused", str(exc.os_error))
            return Outcome("retry", f"cannot connect: {exc.os_error}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            # aiohttp's errors quote the request URL, token and all
            return Outcome("retry", f"{type(exc).__name__}: {mask_urls_in(str(exc))}")


class WebhookDestination(HTTPDestination):
    """POSTs each alert as JSON with Standard Webhooks headers; the alert id is the ``webhook-id`` of every attempt."""

    kind = "webhook"

    def __init__(self, url: str, secret: str | None, guard: AddressGuard, timeout: float = 10.0, **retry: float) -> None:
        super().__init__(url, guard, timeout, **retry)
        self.secret = secret

    async def attempt(self, alert: Alert) -> Outcome:
        return await self._signed(alert.id, encode(outbound(alert)))

    async def attempt_digest(self, digest: Digest) -> Outcome:
        return await self._signed(digest.id, encode(digest.model_copy(update={"alerts": [outbound(a) for a in digest.alerts]})))

    async def _signed(self, msg_id: str, body: bytes) -> Outcome:
        timestamp = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
        if self.secret:
            headers["webhook-signature"] = sign_webhook(self.secret, msg_id, timestamp, body)
        return await self._post(body, headers)
