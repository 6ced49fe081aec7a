"""The poller's one guarded HTTP client: conditional GET, deadlines, size caps and the address guard at connect time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from streams.config import Settings
from streams.errors import BlockedAddress, FetchError
from streams.http.guard import AddressGuard
from streams.http.headers import max_age_seconds, retry_after_seconds


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
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        connector = aiohttp.TCPConnector(
            limit=self.settings.fetch_concurrency,
            limit_per_host=self.settings.fetch_per_host,
            socket_factory=self.guard.socket_factory,
            resolver=self.resolver,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={
                "User-Agent": self.settings.user_agent,
                "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8",
            },
            timeout=aiohttp.ClientTimeout(total=self.settings.fetch_timeout_seconds),
            max_field_size=16 * 1024,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, url: str, etag: str | None = None, last_modified: str | None = None, accept: str | None = None) -> FetchResult:
        """GET ``url`` conditionally; raises :class:`FetchError` for anything but a usable 200 or a 304.

        ``accept`` replaces the feed types of the Accept header (full-text fetches ask for HTML pages).
        """
        if self._session is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError("scheme", f"only http and https URLs are fetched, not {scheme or 'a bare path'!r}")
        try:
            host_key = f"{parts.hostname}:{parts.port}"
        except ValueError as exc:
            raise FetchError("url", f"invalid URL: {exc}") from exc
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        host_slot = self._host_slots.setdefault(host_key, asyncio.Semaphore(self.settings.fetch_per_host))
        async with host_slot, self._slots:
            return await self._get(self._session, url, headers)

    async def _get(self, session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> FetchResult:
        started = time.monotonic()
        try:
            async with session.get(url, headers=headers, max_redirects=self.settings.fetch_max_redirects) as response:
                if response.status == 304:
                    return self._result(response, b"", started)
                if response.status in (429, 503):
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    raise FetchError("rate_limited", f"HTTP {response.status}", retry_after=wait, status=response.status)
                if response.status >= 400:
                    raise FetchError("http_status", f"HTTP {response.status} {response.reason or ''}".strip(), status=response.status)
                declared = response.content_length
                if declared is not None and declared > self.settings.fetch_max_bytes:
                    raise FetchError("too_large", f"Content-Length {declared} exceeds the cap of {self.settings.fetch_max_bytes} bytes")
                body = await self._read_capped(response)
                return self._result(response, body, started)
        except FetchError:
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise fetch_error(exc, self.settings) from exc

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
    def _result(response: aiohttp.ClientResponse, body: bytes, started: float) -> FetchResult:
        return FetchResult(
            status=response.status,
            body=body,
            url=str(response.url),
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            max_age=max_age_seconds(response.headers),
            elapsed=time.monotonic() - started,
            content_type=response.headers.get("Content-Type", ""),
        )


def _connector_error(exc: aiohttp.ClientConnectorError, settings: Settings) -> tuple[str, str]:
    if isinstance(exc.os_error, BlockedAddress):
        return "blocked", str(exc.os_error)
    return "connection", f"cannot connect: {exc.os_error}"


#: what each client exception means, first match wins (subclasses before their bases): kind and message
_ERRORS: tuple[tuple[type[BaseException], Callable[[Any, Settings], tuple[str, str]]], ...] = (
    (TimeoutError, lambda exc, s: ("timeout", f"no complete response within {s.fetch_timeout_seconds:g} s")),
    (aiohttp.TooManyRedirects, lambda exc, s: ("redirects", f"more than {s.fetch_max_redirects} redirects")),
    # yarl refuses non-canonical IPv4 spellings (127.1, 2130706433, 0177.0.0.1) outright
    (aiohttp.InvalidURL, lambda exc, s: ("url", f"invalid URL: {exc}")),
    (aiohttp.ClientSSLError, lambda exc, s: ("tls", f"TLS handshake failed: {exc}")),
    (aiohttp.ClientConnectorError, _connector_error),
    (aiohttp.ClientError, lambda exc, s: ("connection", f"{type(exc).__name__}: {exc}")),
)


def fetch_error(exc: BaseException, settings: Settings) -> FetchError:
    """The :class:`FetchError` a client exception stands for, by the first matching row of :data:`_ERRORS`."""
    for kind, describe in _ERRORS:
        if isinstance(exc, kind):
            label, message = describe(exc, settings)
            return FetchError(label, message)
    return FetchError("connection", f"{type(exc).__name__}: {exc}")
