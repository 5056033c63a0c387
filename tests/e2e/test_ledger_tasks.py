"""Periodic ledger jobs run by a real worker: the expiry sweep voids timed-out pending
transfers exactly once."""

from __future__ import annotations

import datetime as dt
import subprocess
import time

import pytest
import redis
from sqlalchemy import Engine, text

from ledger.accounting.domain.transfers import TransferKind
from ledger.accounting.service import create_transfers, expiry_id, verify_ledger
from ledger.kit.db import transaction
from ledger.kit.queue import TASK_EXPIRE_PENDING, enqueue
from tests.e2e.conftest import start_worker
from tests.integration.helpers import req, setup_accounts

pytestmark = pytest.mark.integration


def test_worker_voids_timed_out_pending_once(
    engine: Engine,
    fresh_db_url: str,
    worker_redis_url: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    redis_url = worker_redis_url
    sysa, a, b = setup_accounts(engine)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with transaction(engine) as conn:
        create_transfers(
            conn,
            [
                req("fund", sysa["emission"], a, 100),
                req("hold-1", a, b, 30, kind=TransferKind.PENDING, timeout_s=60),
                req("hold-2", a, b, 30, kind=TransferKind.PENDING, timeout_s=3600),
            ],
            now=past,
        )
    redis.Redis.from_url(redis_url).flushdb()
    workers.append(start_worker(fresh_db_url, redis_url))
    for _ in range(2):  # overlapping runs must not void twice
        enqueue(redis_url, TASK_EXPIRE_PENDING)
    deadline = time.monotonic() + 60
    while True:
        with engine.connect() as conn:
            voids = (
                conn.execute(text("SELECT id FROM transfers WHERE kind = 'void_pending'"))
                .scalars()
                .all()
            )
        if voids or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(1.0)
    with engine.connect() as conn:
        voids = conn.execute(text("SELECT id FROM transfers WHERE kind = 'void_pending'")
                             ).scalars().all()  # fmt: skip
        assert voids == [expiry_id("hold-1")]  # hold-2 has not timed out
        assert verify_ledger(conn).ok
