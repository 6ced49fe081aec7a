"""``file:`` destinations stay inside WIREWATCH_FILE_DESTINATION_DIR: ``..``, absolute paths and symlinks out are refused."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from schemas import Alert
from streams.config import Settings
from streams.deliver.local import FileDestination
from streams.deliver.specs import parse_destination
from streams.errors import DeliveryFailed, InputError

T = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def alert() -> Alert:
    return Alert(id="a1", rule_id="r", kind="new_mention", entity_id="e", entity_name="Ana Lima", article_id="x", title="t",
                 url="https://news.example/a", feed_id="f", sentence="s", evidence="e", story_id="s", fetched=T, detected=T,
                 latency_seconds=0.4)  # fmt: skip


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "outside").mkdir()
    return Settings(data_dir=tmp_path / "data", alerts_file=tmp_path / "operator" / "alerts.jsonl")


def test_the_default_directory_is_data_dir_alerts(settings: Settings, tmp_path: Path) -> None:
    assert settings.file_destinations_root() == (tmp_path / "data" / "alerts").resolve()
    assert Settings(file_destination_dir=tmp_path / "x").file_destinations_root() == (tmp_path / "x").resolve()


@pytest.mark.parametrize(
    ("spec", "inside"),
    [
        ("file:desk.jsonl", "desk.jsonl"),
        ("file:team/desk.jsonl", "team/desk.jsonl"),
        ("file:team/../desk.jsonl", "desk.jsonl"),
        ("file:{root}/abs.jsonl", "abs.jsonl"),
        ("file://{root}/abs.jsonl", "abs.jsonl"),
    ],
    ids=["relative", "subdirectory", "dotdot-inside", "absolute-inside", "double-slash"],
)
def test_paths_inside_the_directory_are_taken(settings: Settings, spec: str, inside: str) -> None:
    root = settings.file_destinations_root()
    destination = parse_destination(spec.format(root=root), settings)
    assert isinstance(destination, FileDestination) and destination.path == root / inside


@pytest.mark.parametrize(
    "spec",
    ["file:../escape.jsonl", "file:team/../../escape.jsonl", "file:{tmp}/outside/x.jsonl", "file:/etc/cron.d/wirewatch", "file:.",
     "file:{root}", "file:a\x00b"],
    ids=["dotdot", "nested-dotdot", "absolute-outside", "cron", "the-directory-itself", "root-absolute", "nul"],
)  # fmt: skip
def test_paths_outside_the_directory_are_refused(settings: Settings, tmp_path: Path, spec: str) -> None:
    with pytest.raises(InputError, match="file"):
        parse_destination(spec.format(tmp=tmp_path, root=settings.file_destinations_root()), settings)


def test_a_symlink_out_of_the_directory_is_refused(settings: Settings, tmp_path: Path) -> None:
    root = settings.file_destinations_root()
    root.mkdir(parents=True)
    (root / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(InputError, match="outside the file destination directory"):
        parse_destination("file:link/x.jsonl", settings)


def test_the_operators_alerts_file_is_allowed_wherever_it_is(settings: Settings) -> None:
    destination = parse_destination(f"file:{settings.alerts_file}", settings)
    assert isinstance(destination, FileDestination) and destination.path == settings.alerts_file and destination.root is None


async def test_a_symlink_planted_after_the_check_is_not_followed(settings: Settings, tmp_path: Path) -> None:
    destination = parse_destination("file:desk.jsonl", settings)
    await destination.send(alert())
    target = tmp_path / "outside" / "victim"
    target.write_text("untouched\n")
    os.replace(destination.path, tmp_path / "moved")  # type: ignore[attr-defined]
    destination.path.symlink_to(target)  # type: ignore[attr-defined]
    with pytest.raises(DeliveryFailed, match="cannot write"):
        await destination.send(alert())
    assert target.read_text() == "untouched\n"
    assert orjson.loads((tmp_path / "moved").read_bytes())["id"] == "a1"
