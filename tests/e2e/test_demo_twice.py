"""`swarm-ledger demo` twice on one data directory (issue 10, points 15 and 16).

Before, the second run died at start-up (409 ``exists_with_different_metadata`` on the bond,
which carries ``now + lock``) and the epochs after it paid nobody (the simulator started its
sequence numbers at 1 again). Now each run prints a live line per closed epoch, and the second
run continues: an epoch closed in the second run pays nodes. Embedded PostgreSQL and Valkey in a
temporary data directory, so nothing is shared with other tests.

Slow (a demo epoch is 60 s and settles 30 s after its end): ``make test-demo``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CLI = [sys.executable, "-m", "ledger.cli"]
#: A live line: "epoch N (date) closed: pool P SWARM, paid/nodes nodes paid, ...".
LIVE = re.compile(r"^epoch (\d+) \(\S+\) closed: pool \S+ SWARM, (\d+)/(\d+) nodes paid, "
                  r"(\d+) violations, (\d+) penalties, root 0x")  # fmt: skip
RUN_LIMIT_S = 260


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Demo:
    """One `swarm-ledger demo` process, its stderr collected line by line."""

    def __init__(self, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(SWARM_DATA_DIR=str(data_dir), SWARM_PARAMS="demo")
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [*CLI, "demo", "--port", str(free_port())], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def paid_epochs(self) -> list[tuple[int, int]]:
        out = []
        for line in self.lines:
            m = LIVE.match(line)
            if m and int(m.group(2)) > 0:
                out.append((int(m.group(1)), int(m.group(2))))
        return out

    def wait_for_paid_epoch(self) -> tuple[int, int]:
        deadline = time.monotonic() + RUN_LIMIT_S
        while not self.paid_epochs():
            assert self.proc.poll() is None, "\n".join(self.lines[-40:])
            assert time.monotonic() < deadline, "\n".join(self.lines[-40:])
            time.sleep(0.5)
        return self.paid_epochs()[0]

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            raise
        finally:
            self._reader.join(timeout=10)


def test_a_second_demo_on_the_same_data_continues_and_pays() -> None:
    with tempfile.TemporaryDirectory(prefix="swarm-demo-") as d:
        data_dir = Path(d) / "data"
        first = Demo(data_dir)
        try:
            e1, _ = first.wait_for_paid_epoch()
        finally:
            rc1 = first.stop()
        assert rc1 == 0, "\n".join(first.lines[-40:])
        second = Demo(data_dir)
        try:
            e2, paid = second.wait_for_paid_epoch()
        finally:
            rc2 = second.stop()
        text = "\n".join(second.lines)
    assert rc2 == 0, text[-4000:]
    assert e2 > e1 and paid > 0
    assert "Traceback" not in text and "409" not in text, text[-4000:]
    assert "exists_with_different" not in text
    # The worker and beat were handed the demo's embedded servers: never called "external".
    assert not [ln for ln in first.lines + second.lines if ln.startswith("database: external")]
    assert any(ln.startswith("epochs: epoch N covers Unix time") for ln in second.lines)
