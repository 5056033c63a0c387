"""Beat on a data directory that does not exist yet (issue 10, point 14): with DATABASE_URL and
REDIS_URL set nothing else creates it, and beat crashed on its missing schedule file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "ledger.cli"]


def test_beat_starts_on_a_data_directory_that_does_not_exist(
    tmp_path: Path, fresh_db_url: str, worker_redis_url: str
) -> None:
    data_dir = tmp_path / "fresh" / "data"
    env = {k: v for k, v in os.environ.items() if k != "SWARM_DATA_DIR"}
    env.update(DATABASE_URL=fresh_db_url, REDIS_URL=worker_redis_url,
               SWARM_DATA_DIR=str(data_dir))  # fmt: skip
    beat = subprocess.Popen([*CLI, "beat"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not list(data_dir.glob("celerybeat-schedule*")):
            assert beat.poll() is None, beat.stderr.read().decode() if beat.stderr else ""
            assert time.monotonic() < deadline, "beat wrote no schedule"
            time.sleep(0.1)
        time.sleep(1.0)
        assert beat.poll() is None
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=30)
