"""The poller's one guarded HTTP client: conditional GET, redirects hop by hop, deadlines, size caps and the address guard."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from streams.clock import human_duration
from streams.config import Settings
from streams.errors import BlockedAddress, FetchError
from streams.http.guard import AddressGuard
from streams.http.headers import max_age_seconds, retry_after_seconds

#: statuses that send us elsewhere (RFC 9110 §15.4); we only GET, so 303 and 301/302 mean the same as 307/308
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: longest URL quoted in an error message
_SHOWN_URL = 300


@dataclass(frozen=True)
class FetchResult:
    """A response: its status, body (empty on 304) and the caching headers the scheduler reads."""

    status: int
    body: bytes
    url: str
    etag: str | None
    last_modified: str | None
    max_age: float | None
    elapsed: float
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class _HostSlot:
    """The per-host limit of one host, and how many requests hold or wait for it."""

    semaphore: asyncio.Semaphore
    users: int = 0


class Fetcher:
    """The poller's HTTP client; use as ``async with Fetcher(settings) as fetcher``."""

    def __init__(self, settings: Settings, resolver: AbstractResolver | None = None) -> None:
        self.settings = settings
        self.guard = AddressGuard(settings.fetch_allow_hosts)
        # A resolver of the caller's (tests: one that answers public then private) changes nothing
        # about safety: the guard checks the address actually connected to.
        self.resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        # Requests wait for a slot here, before aiohttp starts the clock: the total deadline then
        # measures the request itself, not the queue behind a busy host or a full pool.
        self._slots = asyncio.Semaphore(settings.fetch_concurrency)
        # One entry per host with a request holding or awaiting its slot, dropped as the last one leaves: an idle
        # semaphore holds no state worth keeping, and full-text links bring hosts without end. The bound is the
        # number of requests in progress, whatever the number of distinct hosts seen.
        self._host_slots: dict[str, _HostSlot] = {}

    async def __aenter__(self) -> Fetcher:
        connector = aiohttp.TCPConnector(
            limit=self.settings.fetch_concurrency,
            limit_per_host=self.settings.fetch_per_host,
            socket_factory=self.guard.socket_factory,
            resolver=self.resolver,
            ttl_dns_cache=60,  # aiohttp keeps at most 1,000 hosts in this cache (LRU)
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={
                "User-Agent": self.settings.user_agent,
                "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8",
            },
            max_field_size=16 * 1024,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def host_slots(self) -> int:
        """Hosts with a request in progress or waiting (the size of the per-host table)."""
        return len(self._host_slots)

    async def get(
        self, url: str, etag: str | None = None, last_modified: str | None = None, accept: str | None = None, max_wait: float | None = None
    ) -> FetchResult:
        """GET ``url`` conditionally, following redirects; raises :class:`FetchError` for anything but a usable 200 or a 304.

        ``accept`` replaces the feed types of the Accept header (full-text fetches ask for HTML pages); ``max_wait``
        bounds the server's hints (Retry-After, max-age, Expires), by default the longest poll interval. Each hop
        (at most ``fetch_max_redirects`` redirects) passes the scheme check, the per-host limit and the address guard
        again, and the total deadline spans the chain. An error after a redirect says where it was sent.
        """
        if self._session is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        limit = float(max_wait if max_wait is not None else self.settings.poll_max_interval_seconds)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        budget = self.settings.fetch_timeout_seconds
        elapsed = 0.0
        chain: list[str] = []
        current = url
        try:
            while True:
                host_key = _host_key(current)
                slot = self._host_slots.setdefault(host_key, _HostSlot(asyncio.Semaphore(self.settings.fetch_per_host)))
                slot.users += 1
                try:
                    async with slot.semaphore, self._slots:
                        started = time.monotonic()
                        try:
                            answer = await self._get(self._session, current, headers, budget, limit)
                        finally:
                            spent = time.monotonic() - started
                            budget -= spent
                            elapsed += spent
                finally:
                    slot.users -= 1
                    if not slot.users:
                        del self._host_slots[host_key]
                if isinstance(answer, FetchResult):
                    return dataclasses.replace(answer, elapsed=elapsed)
                if len(chain) >= self.settings.fetch_max_redirects:
                    raise FetchError("redirects", f"more than {self.settings.fetch_max_redirects} redirects")
                chain.append(answer)
                current = answer
                if budget <= 0:
                    raise fetch_error(TimeoutError(), self.settings)
        except FetchError as exc:
            if not chain:
                raise
            raise FetchError(exc.kind, f"{exc} ({_redirected(chain)})", exc.retry_after, exc.status, exc.received) from exc

    async def _get(
        self, session: aiohttp.ClientSession, url: str, headers: dict[str, str], budget: float, limit: float
    ) -> FetchResult | str:
        """One request: its result, or the absolute URL a redirect points to."""
        try:
            timeout = aiohttp.ClientTimeout(total=max(budget, 0.001))
            async with session.get(url, headers=headers, allow_redirects=False, timeout=timeout) as response:
                if response.status == 304:
                    return self._result(response, b"", limit)
                if response.status in REDIRECTS:
                    return _location(response, url)
                if response.status in (429, 503):
                    raw = response.headers.get("Retry-After")
                    wait = retry_after_seconds(raw, maximum=limit)
                    message = f"HTTP {response.status} {response.reason or ''}".strip() + _retry_after_note(raw, wait)
                    raise FetchError("rate_limited", message, retry_after=wait, status=response.status)
                if response.status >= 300:
                    raise FetchError("http_status", f"HTTP {response.status} {response.reason or ''}".strip(), status=response.status)
                declared = _content_length(response)
                if declared is not None and declared > self.settings.fetch_max_bytes:
                    raise FetchError("too_large", f"Content-Length {declared} exceeds the cap of {self.settings.fetch_max_bytes} bytes")
                body = await self._read_capped(response)
                return self._result(response, body, limit)
        except FetchError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise fetch_error(exc, self.settings) from exc
        except ValueError as exc:  # yarl and the IDNA codec refuse some hosts with a plain ValueError or UnicodeError
            raise FetchError("url", f"invalid URL: {exc}") from exc

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        cap = self.settings.fetch_max_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > cap:
                raise FetchError("too_large", f"body exceeds the cap of {cap} bytes (decompressed)", received=size)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _result(response: aiohttp.ClientResponse, body: bytes, limit: float) -> FetchResult:
        return FetchResult(
            status=response.status,
            body=body,
            url=str(response.url),
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            max_age=max_age_seconds(response.headers, maximum=limit),
            elapsed=0.0,
            content_type=response.headers.get("Content-Type", ""),
        )


def _host_key(url: str) -> str:
    """``host:port`` of an http(s) URL; raises :class:`FetchError` for any other scheme or a URL without a host."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port if scheme in ("http", "https") else None
    except ValueError as exc:
        raise FetchError("url", f"invalid URL: {exc}") from exc
    if scheme not in ("http", "https"):
        raise FetchError("scheme", f"only http and https URLs are fetched, not {scheme or 'a bare path'!r}")
    if not parts.hostname:
        raise FetchError("url", "invalid URL: no host")
    return f"{parts.hostname}:{port}"


def _location(response: aiohttp.ClientResponse, url: str) -> str:
    """The absolute URL a redirect names (a relative Location resolved against ``url``, RFC 9110 §10.2.2)."""
    location = response.headers.get("Location", "").strip()
    if not location:
        raise FetchError("http_status", f"HTTP {response.status} redirect without a Location header", status=response.status)
    try:
        target = urljoin(url, location)
        parts = urlsplit(target)
    except ValueError as exc:
        raise FetchError("url", f"HTTP {response.status} redirect to an invalid URL {shown_url(location)!r}: {exc}") from exc
    return urlunsplit(parts._replace(fragment=""))


def _content_length(response: aiohttp.ClientResponse) -> int | None:
    """The declared body size; a header that is no size at all (``-1``, words) counts as undeclared, the cap still holds."""
    try:
        declared = response.content_length
    except ValueError:
        return None
    return declared if declared is not None and declared >= 0 else None


def _retry_after_note(raw: str | None, wait: float | None) -> str:
    if raw is None:
        return ", no Retry-After"
    quoted = repr(raw if len(raw) <= 40 else raw[:40] + "…")
    return f", Retry-After {quoted} ({human_duration(wait)})" if wait is not None else f", Retry-After {quoted} (not understood)"


def shown_url(url: str) -> str:
    """A URL as an error message quotes it: without user name and password, at most 300 characters."""
    try:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            url = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    except ValueError:
        pass
    return url if len(url) <= _SHOWN_URL else url[:_SHOWN_URL] + "…"


def _redirected(chain: list[str]) -> str:
    if len(chain) == 1:
        return f"redirected to {shown_url(chain[0])}"
    return f"after {len(chain)} redirects, last to {shown_url(chain[-1])}"


def _first_line(message: object) -> str:
    """aiohttp's parser errors quote the bad line over several lines, with a caret: the first says what."""
    lines = str(message).strip().splitlines()
    return lines[0].rstrip(":") if lines else "no details"


def _connector_error(exc: aiohttp.ClientConnectorError, settings: Settings) -> tuple[str, str]:
    if isinstance(exc.os_error, BlockedAddress):
        return "blocked", str(exc.os_error)
    return "connection", f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"


#: what each client exception means, first match wins (subclasses before their bases): kind and message
_ERRORS: tuple[tuple[type[BaseException], Callable[[Any, Settings], tuple[str, str]]], ...] = (
    (TimeoutError, lambda exc, s: ("timeout", f"no complete response within {s.fetch_timeout_seconds:g} s")),
    # yarl refuses non-canonical IPv4 spellings (127.1, 2130706433, 0177.0.0.1) outright
    (aiohttp.InvalidURL, lambda exc, s: ("url", f"invalid URL: {exc}")),
    (aiohttp.ClientSSLError, lambda exc, s: ("tls", f"TLS handshake failed: {exc}")),
    (aiohttp.ClientConnectorError, _connector_error),
    (aiohttp.ServerDisconnectedError, lambda exc, s: ("connection", "the server closed the connection before a complete response")),
    (aiohttp.ClientPayloadError, lambda exc, s: ("body", f"the response body was cut short or malformed: {exc}")),
    # aiohttp's parser refuses malformed responses (a Content-Length of 400 digits, a header line too long, ...)
    (aiohttp.ClientResponseError, lambda exc, s: ("bad_response", f"invalid HTTP response: {_first_line(exc.message or exc)}")),
    (aiohttp.ClientOSError, lambda exc, s: ("connection", f"connection failed: {exc.strerror or exc}")),
    (aiohttp.ClientError, lambda exc, s: ("connection", f"request failed ({type(exc).__name__}): {exc}")),
)


def fetch_error(exc: BaseException, settings: Settings) -> FetchError:
    """The :class:`FetchError` a client exception stands for, by the first matching row of :data:`_ERRORS`."""
    for kind, describe in _ERRORS:
        if isinstance(exc, kind):
            label, message = describe(exc, settings)
            return FetchError(label, message)
    return FetchError("connection", f"request failed ({type(exc).__name__}): {exc}")
