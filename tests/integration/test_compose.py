"""docker-compose.yml: its structure, and each Wirewatch service's command run natively with its environment.

No Docker engine is needed: the poller and worker services are started as local processes
(``python -m streams.cli <command>``) with the service's ``environment`` rewritten for loopback, and
their compose healthcheck URL must answer 200 before SIGTERM stops them within the grace period.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from streams.config import Settings
from streams.kafka.admin import delete_topics

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
POM = REPO / "deploy" / "kafka" / "pom.xml"
PG_SCRIPT = REPO / "deploy" / "postgres" / "pg.sh"
WIREWATCH_SERVICES = ("poller", "worker")
HEALTH_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


# ---------------------------------------------------------------- helpers


def load_compose() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        compose = yaml.safe_load(fh)
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict), "docker-compose.yml has no services"
    return compose


def pinned_kafka_version() -> str:
    """The Kafka version deploy/kafka/pom.xml depends on (its org.apache.kafka artifacts, properties resolved)."""
    root = ET.parse(POM).getroot()  # noqa: S314 - our own file
    ns = {"m": root.tag.partition("}")[0].lstrip("{")} if root.tag.startswith("{") else {}
    prefix = "m:" if ns else ""

    def text(node: ET.Element, path: str) -> str:
        found = node.find(path.replace("{p}", prefix), ns)
        return (found.text or "").strip() if found is not None else ""

    props: dict[str, str] = {}
    properties = root.find(f"{prefix}properties", ns)
    if properties is not None:
        for prop in properties:
            props[prop.tag.rpartition("}")[2]] = (prop.text or "").strip()

    versions = set()
    for dep in root.iterfind(f".//{prefix}dependency", ns):
        if text(dep, "{p}groupId") == "org.apache.kafka" and text(dep, "{p}artifactId").startswith("kafka"):
            version = re.sub(r"\$\{([^}]+)\}", lambda m: props.get(m.group(1), m.group(0)), text(dep, "{p}version"))
            versions.add(version)
    assert len(versions) == 1, f"expected one Kafka version in {POM}, found {sorted(versions)}"
    (version,) = versions
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"unresolved Kafka version {version!r} in {POM}"
    return version


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
#: what the tests give a variable the compose file requires (${VAR:?message}) when the environment has none
REQUIRED = {"WIREWATCH_WEB_TOKEN": "compose-test-token-5f0e9d8c7b6a"}


def compose_env() -> dict[str, str]:
    """The environment compose would interpolate with: this one, plus the variables the file requires."""
    return {**REQUIRED, **os.environ}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, default = m.group(2), m.group(3) or ""
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env.get(name, default)
        if op in (":?", "?") and not (env.get(name) if op == ":?" else name in env):
            raise AssertionError(f"compose requires {name}: {default}")
        return env.get(name, "")

    return _VAR.sub(sub, value)


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a str → str mapping (mapping or list form), variables substituted."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, os.environ.get(item, "")) for item in raw)
    return {str(k): interpolate(str(v), compose_env()) if v is not None else "" for k, v in raw.items()}


def health_url(service: dict[str, Any]) -> str:
    """The URL the service's healthcheck requests."""
    test = service["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else str(test)
    match = re.search(r"https?://[^\s'\"]+", command)
    assert match, f"healthcheck does not request an http URL: {command}"
    return match.group(0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kafka_bootstrap() -> str:
    return os.environ.get("WIREWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def broker_reachable(bootstrap: str) -> bool:
    for hostport in bootstrap.split(","):
        host, _, port = hostport.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=3):
                return True
        except (OSError, ValueError):
            continue
    return False


def local_postgres_url() -> str | None:
    """The test database (WIREWATCH_TEST_DATABASE_URL, set by `make test`), else deploy/postgres/pg.sh's
    cluster when it is running, else None."""
    if os.environ.get("WIREWATCH_TEST_DATABASE_URL"):
        return os.environ["WIREWATCH_TEST_DATABASE_URL"]
    if shutil.which("bash") is None:
        return None
    status = subprocess.run(["bash", str(PG_SCRIPT), "status"], capture_output=True, text=True, timeout=30, check=False)
    if status.returncode != 0:
        return None
    url = subprocess.run(["bash", str(PG_SCRIPT), "url"], capture_output=True, text=True, timeout=30, check=True)
    return url.stdout.strip() or None


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback URL we built
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


# ---------------------------------------------------------------- structure


def test_compose_structure() -> None:
    compose = load_compose()
    services = compose["services"]

    assert {"kafka", "postgres", *WIREWATCH_SERVICES} <= set(services), f"services: {sorted(services)}"

    image = services["kafka"]["image"]
    name, _, tag = image.rpartition(":")
    assert name == "apache/kafka", image
    assert tag == pinned_kafka_version(), f"kafka image {image} does not match the Kafka version pinned in {POM.name}"
    assert services["postgres"]["image"].split(":")[0] == "postgres"

    worker = services["worker"]
    assert "container_name" not in worker, "a fixed container_name prevents --scale worker=N"
    assert not worker.get("ports"), "fixed host ports prevent --scale worker=N"

    for role in WIREWATCH_SERVICES:
        service = services[role]
        assert service.get("healthcheck", {}).get("test"), f"{role} has no healthcheck"
        assert service.get("stop_grace_period"), f"{role} has no stop_grace_period"
        assert service.get("command") == [role], f"{role} command: {service.get('command')!r}"
        assert service.get("build") or service.get("image"), f"{role} has neither build nor image"
        env = service_environment(service)
        assert env.get("WIREWATCH_KAFKA_BOOTSTRAP") == "kafka:9092", f"{role} WIREWATCH_KAFKA_BOOTSTRAP"
        assert "kafka" in (service.get("depends_on") or {}), f"{role} does not depend on kafka"
        url = urlsplit(health_url(service))
        assert url.path == "/health", f"{role} healthcheck requests {url.geturl()}"
        assert str(url.port) in env.values(), f"{role} healthcheck port {url.port} is not set in its environment"
        if env.get("WIREWATCH_WEB_HOST") != "127.0.0.1":  # beyond loopback the service refuses to start without a token
            assert "${WIREWATCH_WEB_TOKEN:?" in str(service["environment"].get("WIREWATCH_WEB_TOKEN")), f"{role} needs the web token"

    assert "postgres" in (worker.get("depends_on") or {}), "worker does not depend on postgres"
    assert "@postgres:5432/" in service_environment(worker).get("WIREWATCH_DATABASE_URL", "")

    for name, service in services.items():
        if name not in ("kafka", "postgres", "dashboard", *WIREWATCH_SERVICES):
            assert service.get("profiles"), f"optional service {name} is not behind a profile"


def test_compose_publishes_the_dashboard_on_host_loopback_only() -> None:
    services = load_compose()["services"]
    dashboard = services["dashboard"]
    assert not dashboard.get("profiles"), "the dashboard must come up with a plain `docker compose up`"
    (published,) = dashboard["ports"]
    assert published == "127.0.0.1:${WIREWATCH_DASHBOARD_PORT:-6066}:6066", published
    command = dashboard["command"]
    worker_port = service_environment(services["worker"])["WIREWATCH_WEB_PORT"]
    assert command[command.index("--to") + 1] == f"worker:{worker_port}" and command[command.index("--from") + 1] == ":6066"
    assert "worker" in dashboard["depends_on"]
    # the token rules stay the worker's: it listens beyond loopback in its container, so it requires the token
    assert "${WIREWATCH_WEB_TOKEN:?" in str(services["worker"]["environment"]["WIREWATCH_WEB_TOKEN"])
    # nothing reaches the host's other interfaces: every published port of every service binds 127.0.0.1
    for name, service in services.items():
        for mapping in service.get("ports") or []:
            assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping} on every interface of the host"


def test_compose_config_is_valid() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose binary not installed (apt-get install docker-compose)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=compose_env(),
    )
    assert result.returncode == 0, f"docker-compose config -q failed:\n{result.stdout}\n{result.stderr}"


# ---------------------------------------------------------------- the services, natively


@pytest.fixture(scope="module")
def run_id() -> str:
    return f"ittest-compose-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def bootstrap(run_id: str) -> Any:
    address = kafka_bootstrap()
    if not broker_reachable(address):
        if os.environ.get("CI"):
            pytest.fail(f"no Kafka broker at {address}: run the tests with `make test`")
        pytest.skip(f"no Kafka broker at {address} (start one with 'bash deploy/kafka/kafka.sh start')")
    yield address
    try:  # best effort: the topics this run created
        asyncio.run(delete_topics(Settings(kafka_bootstrap=address, topic_prefix=f"{run_id}.", app_prefix=run_id)))
    except Exception as exc:  # noqa: BLE001 - cleanup must not fail the run
        print(f"could not delete the topics of {run_id}: {exc}", file=sys.stderr)


def native_environment(service: dict[str, Any], bootstrap: str, run_id: str, data_dir: Path) -> tuple[dict[str, str], str]:
    """The service's environment rewritten for this machine, and the loopback health URL to poll."""
    env = service_environment(service)
    health = urlsplit(health_url(service))
    port = free_port()

    rewritten: dict[str, str] = {}
    for key, value in env.items():
        value = value.replace("kafka:9092", bootstrap)
        if value == str(health.port):
            value = str(port)
        if key == "WIREWATCH_WEB_HOST":
            value = "127.0.0.1"
        rewritten[key] = value

    if "WIREWATCH_DATABASE_URL" in rewritten:
        pg_url = local_postgres_url()
        if pg_url:
            rewritten["WIREWATCH_DATABASE_URL"] = pg_url
        else:
            del rewritten["WIREWATCH_DATABASE_URL"]  # SQLite instead
    rewritten["WIREWATCH_DATA_DIR"] = str(data_dir)
    rewritten["WIREWATCH_SQLITE_PATH"] = str(data_dir / "wirewatch.db")
    rewritten["WIREWATCH_TOPIC_PREFIX"] = f"{run_id}."
    rewritten["WIREWATCH_APP_PREFIX"] = run_id

    # the parent's WIREWATCH_* settings (a database URL, a config file, ...) must not leak in
    child = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    child.update(rewritten)
    child["PYTHONUNBUFFERED"] = "1"
    url = f"http://127.0.0.1:{port}{health.path or '/'}"
    return child, url


@pytest.mark.kafka
@pytest.mark.timeout(HEALTH_TIMEOUT + STOP_TIMEOUT + 60)
# the worker's service sets WIREWATCH_DATABASE_URL (test_compose_structure): natively it runs on the local PostgreSQL
@pytest.mark.parametrize(
    "role", [pytest.param(role, marks=pytest.mark.postgres) if role == "worker" else role for role in WIREWATCH_SERVICES]
)
def test_service_runs_natively(role: str, bootstrap: str, run_id: str, tmp_path: Path) -> None:
    service = load_compose()["services"][role]
    env, url = native_environment(service, bootstrap, run_id, tmp_path / "data")
    (tmp_path / "data").mkdir()
    python = REPO / ".venv" / "bin" / "python"
    argv = [str(python if python.exists() else Path(sys.executable)), "-m", "streams.cli", *service["command"]]
    log_path = tmp_path / f"{role}.log"

    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        status = None
        while status != 200:
            if process.poll() is not None:
                pytest.fail(f"{role} exited with code {process.returncode} before {url} answered 200:\n{tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"{role}: {url} did not answer 200 within {HEALTH_TIMEOUT:.0f} s (last status {status}):\n{tail(log_path)}")
            time.sleep(0.5)
            status = http_status(url)

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{role} did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM:\n{tail(log_path)}")
        print(f"{role}: healthy at {url}, exited with code {code} {time.monotonic() - started:.1f} s after SIGTERM")
        assert code >= 0, f"{role} was killed by signal {-code} instead of shutting down on SIGTERM:\n{tail(log_path)}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
