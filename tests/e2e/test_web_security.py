"""The web servers of real worker and poller processes: where they listen (read from the socket table), the token,
Faust's own pages gone, the dashboard's headers, and the dashboard in a real browser with its CSP and cookie."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from streams.config import Settings
from streams.kafka.admin import ensure_topics
from tests.conftest import free_port
from tests.e2e.helpers import cli, stack_env, start, stop, wait_for
from tests.figures import record_figure

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
#: the summary row of the figures this file measures
ROW = "web servers bind where the setting says, data pages need the token"

TOKEN = "e2e-3c9a7f1d5b2e4a6c8d0f1e3b5a7c9d1f"
#: Faust's built-in pages, each off: table values (pending digests with destination URLs), routing, statistics
FAUST_PAGES = ("/table/", "/table/digest-pending/", "/router/", "/stats/", "/graph/", "/performance/", "/assignment/")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def request(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()
    except OSError:
        return 0, {}, b""


def listening(pid: int, port: int) -> set[str]:
    """The local addresses process ``pid`` listens on at ``port``, from the kernel's socket table (/proc/net/tcp{,6})."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != "0A" or fields[9] not in inodes or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # the kernel prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
            found.add(str(ipaddress.ip_address(words)))
    return found


def wait_listening(process: subprocess.Popen[bytes], port: int) -> set[str]:
    return wait_for(f"a listening socket on port {port}", lambda: listening(process.pid, port), 180, processes=[process])


@pytest.mark.timeout(600)
def test_beyond_loopback_without_a_token_refuses_to_start(kafka_settings: Settings) -> None:
    for role, port_setting in (("worker", "WIREWATCH_WEB_PORT"), ("poller", "WIREWATCH_POLLER_WEB_PORT")):
        env = stack_env(kafka_settings, {"WIREWATCH_WEB_HOST": "0.0.0.0", port_setting: str(free_port())})
        result = cli(env, role, timeout=120)
        assert result.returncode == 2, (role, result.returncode, result.stderr[-2000:])
        assert "WIREWATCH_WEB_TOKEN" in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) <= 3, result.stderr  # one error, no traceback


@pytest.mark.timeout(600)
def test_the_poller_binds_where_the_setting_says_and_requires_the_token(kafka_settings: Settings, tmp_path: Path) -> None:
    asyncio.run(ensure_topics(kafka_settings))
    port = free_port()
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_HOST": "0.0.0.0", "WIREWATCH_WEB_TOKEN": TOKEN, "WIREWATCH_POLLER_WEB_PORT": str(port)})
    poller = start("poller", env, tmp_path / "poller.log")
    try:
        addresses = wait_listening(poller, port)
        record_figure(ROW, "poller bound to 0.0.0.0 (with a token), socket table", ", ".join(sorted(addresses)))
        assert addresses == {"0.0.0.0"}
        base = f"http://127.0.0.1:{port}"
        wait_for("the poller's /health", lambda: request(f"{base}/health")[0] == 200, 180, processes=[poller])
        assert request(f"{base}/ready")[0] in (200, 503)  # open; ready once its partitions are assigned
        assert request(f"{base}/metrics")[0] == 401
        assert request(f"{base}/metrics", {"Authorization": "Bearer wrong"})[0] == 403
        status, _, body = request(f"{base}/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and b"wirewatch_polls_total" in body
        for page in FAUST_PAGES:
            assert request(f"{base}{page}")[0] == 401, page
            assert request(f"{base}{page}", {"Authorization": f"Bearer {TOKEN}"})[0] == 404, page
        record_figure(ROW, "Faust pages that answer 404", f"{len(FAUST_PAGES)} of {len(FAUST_PAGES)}")
    finally:
        assert stop(poller) == 0
    assert TOKEN not in (tmp_path / "poller.log").read_text()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def browse(url: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """The DOM of ``url`` after its script ran, in headless Chromium; CSP violations land on stderr."""
    browser = chromium()
    assert browser is not None
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync",
             "--disable-component-update", "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={profile}"]  # fmt: skip
    return subprocess.run([browser, *flags, "--virtual-time-budget=4000", "--dump-dom", url], capture_output=True, text=True, timeout=120)


@pytest.mark.timeout(900)
def test_the_worker_binds_where_the_setting_says_and_serves_the_dashboard_safely(kafka_settings: Settings, tmp_path: Path) -> None:
    asyncio.run(ensure_topics(kafka_settings))
    port = free_port()
    # the default host (loopback), no token: the dashboard is open on this machine
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_PORT": str(port)})
    worker = start("worker", env, tmp_path / "worker-1.log")
    try:
        addresses = wait_listening(worker, port)
        record_figure(ROW, "worker with the default host, socket table", ", ".join(sorted(addresses)))
        assert addresses == {"127.0.0.1"}
        base = f"http://127.0.0.1:{port}"
        status, headers, body = wait_for(
            "the dashboard", lambda: (r := request(f"{base}/dashboard"))[0] == 200 and r, 180, processes=[worker]
        )
        csp = headers["Content-Security-Policy"]
        assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
        assert b"<h1>Wirewatch</h1>" in body
        for page in FAUST_PAGES:
            assert request(f"{base}{page}")[0] == 404, page
        if chromium() is not None:
            dom = browse(f"{base}/dashboard", tmp_path / "profile-1")
            assert dom.returncode == 0, dom.stderr[-2000:]
            assert "Content Security Policy" not in dom.stderr, dom.stderr[-2000:]
            assert "; figures of " in dom.stdout, "the page's script did not run"  # it wrote the time of its refresh
    finally:
        assert stop(worker) == 0

    # every interface, with the token: the dashboard needs it, /health does not
    env = stack_env(kafka_settings, {"WIREWATCH_WEB_HOST": "0.0.0.0", "WIREWATCH_WEB_TOKEN": TOKEN, "WIREWATCH_WEB_PORT": str(port)})
    worker = start("worker", env, tmp_path / "worker-2.log")
    try:
        assert wait_listening(worker, port) == {"0.0.0.0"}
        wait_for("the worker's /health", lambda: request(f"{base}/health")[0] == 200, 180, processes=[worker])
        for page in ("/dashboard", "/dashboard.json", "/metrics", "/"):
            assert request(f"{base}{page}")[0] == 401, page
            assert request(f"{base}{page}", {"Authorization": "Bearer nope"})[0] == 403, page
        assert request(f"{base}/dashboard.json", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        for page in FAUST_PAGES:
            assert request(f"{base}{page}", {"Authorization": f"Bearer {TOKEN}"})[0] == 404, page
        status, headers, _ = request(f"{base}/dashboard?token={TOKEN}")
        assert status == 303 and headers["Location"] == "/dashboard" and "HttpOnly" in headers["Set-Cookie"]
        if chromium() is not None:
            # a browser opens the link with ?token= once: the cookie carries it to the page and the page's own fetches
            dom = browse(f"{base}/dashboard?token={TOKEN}", tmp_path / "profile-2")
            assert dom.returncode == 0, dom.stderr[-2000:]
            assert "<h1>Wirewatch</h1>" in dom.stdout and "; figures of " in dom.stdout, dom.stdout[-2000:]
            assert "Content Security Policy" not in dom.stderr
    finally:
        assert stop(worker) == 0
    for log in ("worker-1.log", "worker-2.log"):
        assert TOKEN not in (tmp_path / log).read_text()
