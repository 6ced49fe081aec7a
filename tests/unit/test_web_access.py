"""Who may read the web pages (streams/web/access.py) and the dashboard's Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.config import Settings
from streams.web.access import COOKIE, OPEN_PATHS, access_middleware, binding_error, cookie_value, decide, is_loopback
from streams.web.dashboard import DASHBOARD_CSP, DashboardData, render_dashboard
from tests.unit.test_dashboard import alert

TOKEN = "9d1f0c7e5b3a4f2e8c6d1b0a7f5e3c2d"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
     ("::", False), ("", False), ("192.168.1.20", False), ("10.0.0.1", False), ("wirewatch.example.org", False)],
    ids=["v4", "v4-net", "v6", "v6-brackets", "localhost", "any-v4", "any-v6", "empty", "lan", "private", "hostname"],
)  # fmt: skip
def test_only_loopback_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_beyond_loopback_needs_a_token() -> None:
    assert binding_error(Settings(web_host="127.0.0.1")) is None
    problem = binding_error(Settings(web_host="0.0.0.0"))
    assert problem is not None and "WIREWATCH_WEB_TOKEN" in problem and "0.0.0.0" in problem
    assert binding_error(Settings(web_host="0.0.0.0", web_token="")) is not None  # an empty token is no token
    assert binding_error(Settings(web_host="0.0.0.0", web_token=TOKEN)) is None


@pytest.mark.parametrize(
    ("path", "token", "authorization", "cookie", "query", "expected"),
    [
        ("/dashboard", "", None, None, None, ("serve", 200)),
        ("/health", TOKEN, None, None, None, ("serve", 200)),
        ("/ready", TOKEN, None, None, None, ("serve", 200)),
        ("/dashboard", TOKEN, None, None, None, ("refuse", 401)),
        ("/metrics", TOKEN, None, None, None, ("refuse", 401)),
        ("/table/", TOKEN, None, None, None, ("refuse", 401)),
        ("/dashboard", TOKEN, f"Bearer {TOKEN}", None, None, ("serve", 200)),
        ("/dashboard", TOKEN, f"bearer  {TOKEN} ", None, None, ("serve", 200)),
        ("/dashboard", TOKEN, "Bearer wrong", None, None, ("refuse", 403)),
        ("/dashboard", TOKEN, f"Basic {TOKEN}", None, None, ("refuse", 403)),
        ("/dashboard", TOKEN, None, cookie_value(TOKEN), None, ("serve", 200)),
        ("/dashboard", TOKEN, None, TOKEN, None, ("refuse", 403)),
        ("/dashboard", TOKEN, None, None, TOKEN, ("set_cookie", 303)),
        ("/dashboard", TOKEN, None, None, "wrong", ("refuse", 403)),
    ],
    ids=["no-token-configured", "health-open", "ready-open", "missing", "metrics", "unknown-path", "bearer", "bearer-spacing",
         "wrong-bearer", "other-scheme", "cookie", "raw-token-as-cookie", "query", "wrong-query"],
)  # fmt: skip
def test_decide(path: str, token: str, authorization: str | None, cookie: str | None, query: str | None, expected: tuple[str, int]) -> None:
    decision = decide(path, token, authorization, cookie, query)
    assert (decision.action, decision.status) == expected


async def pages(settings: Settings) -> TestClient[web.Request, web.Application]:
    async def dashboard(request: web.Request) -> web.Response:
        return web.Response(text="<html>data</html>", content_type="text/html", headers={"Content-Security-Policy": DASHBOARD_CSP})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(middlewares=[access_middleware(settings)])
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/health", health)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_the_cookie_flow_and_the_headers_on_a_real_server() -> None:
    client = await pages(Settings(web_host="0.0.0.0", web_token=TOKEN))
    try:
        missing = await client.get("/dashboard")
        assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.get("/health")).status == 200
        opened = await client.get(f"/dashboard?token={TOKEN}&x=1", allow_redirects=False)
        assert opened.status == 303 and opened.headers["Location"] == "/dashboard?x=1"  # the token leaves the URL
        set_cookie = opened.headers["Set-Cookie"]
        assert f"{COOKIE}={cookie_value(TOKEN)}" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
        assert TOKEN not in set_cookie
        page = await client.get("/dashboard")  # the client keeps the cookie, as a browser does
        assert page.status == 200 and await page.text() == "<html>data</html>"
        assert page.headers["Content-Security-Policy"] == DASHBOARD_CSP
        for response in (missing, opened, page, await client.get("/nowhere", headers={"Authorization": f"Bearer {TOKEN}"})):
            assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["Referrer-Policy"] == "no-referrer"
            assert "Content-Security-Policy" in response.headers and response.headers["Cache-Control"] == "no-store"
    finally:
        await client.close()


def test_the_dashboard_allows_only_its_own_script_and_style() -> None:
    page = render_dashboard(DashboardData(now=datetime(2026, 11, 28, tzinfo=UTC), alerts=[alert("t", "e")], trends=[], counters={},
                                          dead_letters=0, lag={}))  # fmt: skip
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    assert len(scripts) == 1 and len(styles) == 1 and "<script src" not in page
    for source, directive in ((scripts[0], "script-src"), (styles[0], "style-src")):
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in DASHBOARD_CSP
    assert "unsafe-inline" not in DASHBOARD_CSP and "default-src 'none'" in DASHBOARD_CSP
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"


def test_a_javascript_link_is_shown_as_text() -> None:
    link = alert("Click me", "e").model_copy(update={"url": "javascript:alert(1)"})
    data = DashboardData(now=datetime(2026, 11, 28, tzinfo=UTC), alerts=[link], trends=[], counters={}, dead_letters=0, lag={})
    page = render_dashboard(data)
    assert 'href="javascript' not in page and "Click me <small>javascript:alert(1)</small>" in page


def test_only_health_and_ready_are_open_without_the_token() -> None:
    assert frozenset({"/health", "/ready"}) == OPEN_PATHS


def test_manage_forms_need_this_origin_and_the_page_token() -> None:
    from streams.web.manage import csrf_refusal, csrf_token

    token = csrf_token("secret")
    assert token == csrf_token("secret") != csrf_token("other") and "secret" not in token
    host = "127.0.0.1:8088"
    assert csrf_refusal(host, f"http://{host}", None, token, token) is None
    assert csrf_refusal(host, None, "same-origin", token, token) is None  # no Origin, but the browser says same-origin
    refused = [
        csrf_refusal(host, "http://evil.example", "cross-site", token, token),
        csrf_refusal(host, "null", None, token, token),  # a sandboxed frame or a no-referrer page
        csrf_refusal(host, "http://127.0.0.1:9999", None, token, token),  # another port is another origin
        csrf_refusal(host, None, "cross-site", token, token),
        csrf_refusal(host, None, None, token, token),
        csrf_refusal(None, f"http://{host}", None, token, token),
        csrf_refusal(host, f"http://{host}", None, None, token),
        csrf_refusal(host, f"http://{host}", None, "0" * 64, token),
    ]
    assert all(refused), refused


def test_the_manage_page_links_each_rule_to_its_preview() -> None:
    from streams.alert.rulefile import make_rule
    from streams.web.manage import ManageData, render_manage

    watched = make_rule("Daniel Okafor", [], "PERSON", None, "new_mention")
    event = make_rule("Mosul attacks", [], None, None, "event", event_types=["ASSAULT"])
    page = render_manage(ManageData(token="t", rules=[watched, event], alerts=[], acks={}))
    assert f'href="watch/{watched.id}/preview?since=7d"' in page  # what it would have sent, as `watch test` shows
    assert f"watch/{event.id}/preview" not in page  # event rules cannot be previewed: no dead link
