"""Real worker processes for end-to-end tests, always reaped (a leftover worker would steal
the next test's tasks from the shared Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest


def start_worker(db_url: str, redis_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url}
    # SWARM_TEST_WORKER_LOG=path keeps the workers' logs when debugging a failure.
    log = open(os.environ.get("SWARM_TEST_WORKER_LOG", os.devnull), "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-P", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
