"""A Celery app with one task that outlives its limits, for tests/e2e/test_time_limits.py."""

from __future__ import annotations

import os
import time

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

app = Celery("sleepy", broker=os.environ.get("SLEEPY_BROKER", "memory://"))
app.conf.worker_hijack_root_logger = False


@app.task(name="sleepy", soft_time_limit=1, time_limit=2)
def sleepy() -> None:
    try:
        time.sleep(5)
        print("SLEEPY FINISHED", flush=True)
    except SoftTimeLimitExceeded:
        print("SLEEPY SOFT LIMIT", flush=True)
        time.sleep(5)
        print("SLEEPY FINISHED AFTER SOFT LIMIT", flush=True)
