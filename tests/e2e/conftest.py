"""Real worker processes for end-to-end tests, always reaped (a leftover worker would steal
the next test's tasks).

Tests that start workers get a broker of their own: an embedded Valkey per test session
(``worker_redis_url``), so several suites running at once on one machine never share a queue,
and flushing it touches nobody else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.kit.embedded import start_embedded_valkey, stop_embedded


def worker_argv(pool: str = "prefork") -> list[str]:
    """The worker as the service runs it (prefork: the pool that enforces time limits)."""
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-P", pool]
    if pool == "prefork":
        argv += ["-c", "1"]
    return [*argv, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]


def start_worker(db_url: str, redis_url: str, *, log_path: str | None = None,
                 extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:  # fmt: skip
    """A worker in a process group of its own (kill_group stops it with its pool children)."""
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, **(extra_env or {})}
    # SWARM_TEST_WORKER_LOG=path keeps the workers' logs when debugging a failure.
    path = log_path or os.environ.get("SWARM_TEST_WORKER_LOG", os.devnull)
    log = open(path, "ab")  # noqa: SIM115
    return subprocess.Popen(
        worker_argv(), env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
    )


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the worker and its pool processes (as a container kill or the OOM killer would)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        kill_group(p)


#: Stops the Valkey of a test session that was killed before its teardown (a timeout, kill -9):
#: it polls for the session's process and, once it is gone, ends the server.
WATCHDOG = """
import os, signal, sys, time
session, server = int(sys.argv[1]), int(sys.argv[2])
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
while alive(session) and alive(server):
    time.sleep(1)
if alive(server):
    os.kill(server, signal.SIGTERM)
"""


@pytest.fixture(scope="session")
def worker_redis_url() -> Iterator[str]:
    """A broker only this test session uses (an embedded Valkey in a temporary directory),
    stopped at the end of the session, or by a watchdog if the session is killed first."""
    from ledger.kit.embedded import _valkeys

    with tempfile.TemporaryDirectory(prefix="swarm-e2e-valkey-") as d:
        url = start_embedded_valkey(Path(d))
        server = _valkeys[(Path(d) / "valkey").resolve()]
        watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(server._process.pid)],
            start_new_session=True,
        )
        try:
            yield url
        finally:
            stop_embedded(Path(d))
            watchdog.kill()
            watchdog.wait(timeout=10)
