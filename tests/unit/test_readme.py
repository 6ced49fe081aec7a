"""The documents stay true: README short and starting with the two commands; generated pages match the code."""

from pathlib import Path

import pytest

from streams.cli.gendocs import GENERATED
from streams.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text("utf-8")


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_pages_match_the_code(name: str) -> None:
    assert (ROOT / "docs" / name).read_text("utf-8") == GENERATED[name](), f"docs/{name} is stale: run `.venv/bin/wirewatch docs`"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"| `WIREWATCH_{name.upper()}` |" in CONFIGURATION


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    assert len(README.splitlines()) <= 150
    first_section = README.split("\n## ", 2)[1]
    assert "make run" in first_section and "make test" in first_section
