"""Who may read the processes' web pages: loopback or a token, the token by header or cookie, and security headers."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from streams.config import Settings

#: pages a load balancer or orchestrator probes without credentials; they show no data
OPEN_PATHS = frozenset({"/health", "/ready"})
#: the cookie a browser gets from ``?token=``: a digest of the token, not the token itself
COOKIE = "wirewatch_token"
#: on every response: no MIME sniffing, no Referer (dashboard links lead to outside sites), no framing
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: the policy of every response that sets none of its own (JSON, metrics, errors): nothing may load from it
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on this machine only: ``localhost`` or a loopback IP literal.

    Anything else counts as beyond loopback, an empty host and ``0.0.0.0`` or ``::`` (every interface) included;
    a hostname is not resolved, since what it resolves to may change.
    """
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def binding_error(settings: Settings) -> str | None:
    """Why the web server must not start as configured (bound beyond loopback without a token), else None."""
    if is_loopback(settings.web_host) or _token(settings):
        return None
    return (
        f"WIREWATCH_WEB_HOST={settings.web_host or '(every interface)'} serves the dashboard and metrics beyond this machine: "
        "set WIREWATCH_WEB_TOKEN to a long random secret (e.g. `openssl rand -hex 32`), or bind 127.0.0.1"
    )


def _token(settings: Settings) -> str:
    return settings.web_token.get_secret_value() if settings.web_token is not None else ""


def cookie_value(token: str) -> str:
    """What the cookie holds: an HMAC of the token, so a leaked cookie does not give the token away."""
    return hmac.new(token.encode(), b"wirewatch dashboard cookie", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Decision:
    """What to do with a request: serve it, refuse it (401 no credentials, 403 wrong ones), or set the cookie."""

    action: Literal["serve", "refuse", "set_cookie"]
    status: int = 200
    reason: str = ""


def decide(path: str, token: str, authorization: str | None, cookie: str | None, query_token: str | None) -> Decision:
    """The access decision for one request, without I/O.

    No token configured (only allowed on loopback): everything is served. With a token, only :data:`OPEN_PATHS`
    are served without it; every other path, unknown ones too, needs ``Authorization: Bearer TOKEN``, the
    cookie, or ``?token=TOKEN`` (which sets the cookie and redirects to the same page without the token).
    """
    if not token or path in OPEN_PATHS:
        return Decision("serve")
    if query_token is not None:
        if hmac.compare_digest(query_token.encode(), token.encode()):
            return Decision("set_cookie", 303)
        return Decision("refuse", 403, "wrong token")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode()):
            return Decision("serve")
        return Decision("refuse", 403, "wrong token")
    if cookie is not None:
        if hmac.compare_digest(cookie.encode(), cookie_value(token).encode()):
            return Decision("serve")
        return Decision("refuse", 403, "wrong token")
    return Decision("refuse", 401, "this page needs the token: Authorization: Bearer TOKEN, or open it once with ?token=TOKEN")


def access_middleware(settings: Settings) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """The aiohttp middleware that applies :func:`decide` and the security headers to every request of a process."""
    token = _token(settings)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        decision = decide(
            request.path,
            token,
            request.headers.get("Authorization"),
            request.cookies.get(COOKIE),
            request.query.get("token"),
        )
        if decision.action == "refuse":
            headers = {"WWW-Authenticate": 'Bearer realm="wirewatch"'} if decision.status == 401 else {}
            return _secured(web.json_response({"error": decision.reason}, status=decision.status, headers=headers))
        if decision.action == "set_cookie":
            query = [(key, value) for key, value in request.query.items() if key != "token"]
            target = request.rel_url.with_query(query)
            redirect = web.Response(status=303, headers={"Location": str(target)})
            redirect.set_cookie(COOKIE, cookie_value(token), httponly=True, samesite="Strict", path="/")
            return _secured(redirect)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 404 and the like: they carry the headers too
            _secured(exc)
            raise
        return _secured(response)

    return guard


def _secured(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
    # data pages change every second and may be private: never stored by a browser or proxy
    response.headers.setdefault("Cache-Control", "no-store")
    return response
