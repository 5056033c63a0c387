"""The CLI as a person meets it (issue 10, points 14 and 17): one clear line and an exit code,
never a traceback; it says which data directory it uses and does not create one for a command
that only reads; times are dates; beat starts on a data directory that does not exist yet."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ledger.params.domain import demo_params

CLI = [sys.executable, "-m", "ledger.cli"]


def run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "SWARM_DATA_DIR"}}  # fmt: skip
    return subprocess.run([*CLI, *args], env={**base, **env}, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_a_read_only_command_refuses_to_create_a_data_directory(tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / ".swarm-ledger"
    for args in (["verify"], ["verify", "epoch", "5"], ["epoch", "close", "5"]):
        res = run(args, {"SWARM_DATA_DIR": str(missing)})
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: no ledger in "), res.stderr
        assert str(missing) in lines[0]
        assert not missing.exists() and not (tmp_path / "elsewhere").exists()


def test_closing_a_future_epoch_is_one_line_with_a_date(fresh_db_url: str, redis_url: str) -> None:
    future = int(time.time()) // 60 + 10
    env = {"DATABASE_URL": fresh_db_url, "REDIS_URL": redis_url, "SWARM_PARAMS": "demo"}
    res = run(["epoch", "close", str(future)], env)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    banner, _, error = res.stderr.strip().rpartition("\n")
    assert banner.startswith("database: external"), res.stderr  # which ledger it used
    assert error.startswith(f"error: epoch: epoch {future} settles at 20"), error
    assert error.endswith("[epoch_not_settled]")
    assert demo_params().epoch.epoch_length_s == 60


def test_an_unreachable_database_is_one_line_and_exit_3(tmp_path: Path) -> None:
    res = run(["verify"], {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                           "REDIS_URL": "redis://127.0.0.1:1/0"})  # fmt: skip
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: a server is unavailable")
