"""Shared fixtures: unique topic namespaces on the real broker, the local PostgreSQL, own fixture feeds, one spaCy model."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.config import Settings, get_settings
from streams.kafka.admin import delete_topics

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def namespace() -> str:
    """A fresh topic and consumer-group namespace, so tests never see each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kafka_settings(namespace: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at the real broker under a namespace of this test's own, whose topics are deleted after."""
    settings = Settings(
        kafka_bootstrap=os.environ.get("WIREWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        topic_prefix=f"{namespace}.",
        app_prefix=namespace,
        data_dir=tmp_path / "data",
        sqlite_path=tmp_path / "wirewatch.db",
    )
    yield settings
    try:
        asyncio.run(delete_topics(settings))
    except Exception as exc:  # noqa: BLE001 - a broker the test itself stopped or broke must not fail the teardown
        warnings.warn(f"could not delete the topics of {namespace}: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The local PostgreSQL started by `make test` (deploy/postgres/pg.sh)."""
    url = os.environ.get("WIREWATCH_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("WIREWATCH_TEST_DATABASE_URL is not set: run the tests with `make test`")
        pytest.skip("no local PostgreSQL: run `make test` (it starts one)")
    return url


@pytest.fixture(scope="session")
def nlp() -> Any:
    """The configured spaCy pipeline, loaded once for the whole session (every loaded copy costs seconds and memory)."""
    from streams.enrich.model import load_model  # here, not at the top: spaCy is a slow import most tests never need

    return load_model(get_settings().spacy_model)


#: what a failed test shows of each process log in its tmp_path: the lines that say what broke, and the last ones
LOG_PROBLEMS = ("Traceback", "ERROR", "CRITICAL", "crashed", "Error:")
LOG_PROBLEM_LINES = 40
LOG_TAIL_LINES = 15


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed test that ran processes (workers, pollers) shows what their logs say, not only that one exited."""
    outcome = yield
    report = outcome.get_result()
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.when != "call" or not report.failed or not isinstance(tmp_path, Path):
        return
    for log in sorted(tmp_path.rglob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        problems = [line for line in lines if any(word in line for word in LOG_PROBLEMS)][:LOG_PROBLEM_LINES]
        shown = [*problems, "...", *lines[-LOG_TAIL_LINES:]] if problems else lines[-LOG_TAIL_LINES:]
        report.sections.append((f"log {log.relative_to(tmp_path)}", "\n".join(line[:300] for line in shown)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures the tests measured (tests/figures.py), after the results, and as test-artifacts/figures.json."""
    from tests.figures import summary_lines, write_json

    lines = summary_lines()
    if not lines:
        return
    terminalreporter.section("figures")
    for line in lines:
        terminalreporter.write_line(line)
    path = write_json()
    if path is not None:
        terminalreporter.write_line(f"(also in {path})")
