"""The pool the service runs enforces time limits (issue 10, point 9).

Measured on Celery 5.7: the solo and threads pools enforce neither limit (a task with
soft 1 s / hard 2 s slept its 5 s and finished); prefork raises SoftTimeLimitExceeded in the
task at the soft limit and kills the pool process at the hard one. The worker runs with the
pool options of ``swarm-ledger worker``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.cli import CeleryProgram, _celery_argv

pytestmark = pytest.mark.integration


def test_the_service_pool_enforces_soft_and_hard_time_limits(
    worker_redis_url: str, tmp_path: Path
) -> None:
    service_argv = _celery_argv(CeleryProgram.WORKER)
    pool = service_argv[service_argv.index("-P") : service_argv.index("-P") + 4]  # -P x -c n
    env = {**os.environ, "SLEEPY_BROKER": worker_redis_url}
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.e2e.sleepy_app", "worker", *pool,
             "-Q", "sleepy", "--without-gossip", "--without-mingle", "-l", "WARNING"],
            env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        from tests.e2e.sleepy_app import app

        app.conf.broker_url = worker_redis_url
        app.send_task("sleepy", queue="sleepy")
        deadline = time.monotonic() + 30  # start-up, then the 2 s hard limit (the task: 5 s)
        while "TimeLimitExceeded(2" not in log.read_text() and "FINISHED" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "SLEEPY SOFT LIMIT" in text, text
    assert "TimeLimitExceeded(2" in text, text
    assert "SLEEPY FINISHED" not in text, text
