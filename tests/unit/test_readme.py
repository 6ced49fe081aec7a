"""README.md stays true: every setting is documented in its configuration table."""

from pathlib import Path

import pytest

from streams.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(name: str) -> None:
    assert f"| `WIREWATCH_{name.upper()}` |" in README, f"add WIREWATCH_{name.upper()} to README.md's configuration table"


def test_readme_starts_with_the_two_commands() -> None:
    assert README.index("make run") < README.index("## Configuration")
    assert "make test" in README.split("## Feeds")[0]
