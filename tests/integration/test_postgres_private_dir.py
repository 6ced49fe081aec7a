"""deploy/postgres/pg.sh in a fresh clone under a directory the postgres user cannot enter (mode 700, as `mktemp -d`
makes): the cluster goes to a per-checkout directory under /var/tmp, owned by postgres, and starts, answers and stops."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.figures import record_figure

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
PORT = "55499"


def pg(clone: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WIREWATCH_PG_PORT": PORT}
    env.pop("WIREWATCH_PG_STATE_DIR", None)
    return subprocess.run(["bash", "deploy/postgres/pg.sh", command], cwd=clone, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.timeout(600)
def test_pg_sh_starts_a_cluster_for_a_clone_in_a_private_directory() -> None:
    if os.geteuid() != 0:
        pytest.skip("only root runs the server as the postgres user, which the private directory shuts out")
    if shutil.which("git") is None:
        pytest.skip("git is needed to clone the checkout")
    private = Path(tempfile.mkdtemp(prefix="wirewatch-private-"))
    state_dir: Path | None = None
    try:
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        clone = private / "wirewatch"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
        # the script as it is in this checkout, committed or not: it is what is under test
        shutil.copy2(ROOT / "deploy" / "postgres" / "pg.sh", clone / "deploy" / "postgres" / "pg.sh")
        expected = Path("/var/tmp") / f"wirewatch-postgres-{hashlib.sha256(str(clone).encode()).hexdigest()[:12]}"
        started = time.monotonic()
        result = pg(clone, "start")
        seconds = time.monotonic() - started
        assert result.returncode == 0, result.stdout + result.stderr
        found = re.search(r"cluster in (\S+)/data", result.stdout)
        state_dir = Path(found.group(1)) if found else expected
        assert state_dir == expected, result.stdout
        info = state_dir.stat()
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == int(
            subprocess.run(["id", "-u", "postgres"], capture_output=True, text=True, check=True).stdout
        )
        assert not (clone / ".local" / "postgres" / "data").exists()
        status = pg(clone, "status")
        assert status.returncode == 0 and f"data {state_dir}/data" in status.stdout, status.stdout + status.stderr
        url = pg(clone, "url").stdout.strip()
        assert url == f"postgresql://wirewatch@127.0.0.1:{PORT}/wirewatch"

        async def select_one() -> int:
            import asyncpg

            connection = await asyncpg.connect(url)
            try:
                return int(await connection.fetchval("SELECT 1"))
            finally:
                await connection.close()

        assert asyncio.run(select_one()) == 1
        record_figure("make test in a private directory (mode 700 clone, as root)", "pg.sh start, cluster initialised", seconds, "s")
        stopped = pg(clone, "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
        assert pg(clone, "status").returncode == 1
    finally:
        if state_dir is not None and (state_dir / "data" / "postmaster.pid").exists():
            pg(private / "wirewatch", "stop")
        if state_dir is not None:
            shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)
