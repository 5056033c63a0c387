"""An epoch close killed with SIGKILL in the middle leaves nothing behind, and the retry pays
exactly once. Real Celery worker processes, real PostgreSQL and Redis.

To kill it deterministically mid-close, the test holds the ledger's writer lock: the worker
computes the epoch, rolls up the pending telemetry in its transaction, then blocks on the lock
when it starts posting transfers. That is where it is killed.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from sqlalchemy import Engine, text

from ledger.accounting.service import verify_ledger
from ledger.epochs import service as epochs
from ledger.kit.embedded import libpq_url
from ledger.kit.queue import TASK_CLOSE_EPOCH, enqueue
from ledger.params.domain import demo_params
from tests.e2e.conftest import kill_group, start_worker
from tests.integration.epoch_helpers import at, bond, send_epoch
from tests.integration.fleet import make_fleet, now_ts

pytestmark = pytest.mark.integration
P = demo_params()
NODES = 30
WAIT_S = 90
SLOTS = P.epoch.epoch_length_s // P.telemetry.heartbeat_interval_s  # heartbeats a node sends


def state(engine: Engine, epoch: int) -> tuple[int, int, int, int]:
    """(epoch rows, reward transfers, receipts, telemetry batches still to roll up)"""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM reward_epochs WHERE epoch = :e), "
                "(SELECT count(*) FROM transfers WHERE code = 100 AND epoch = :e), "
                "(SELECT count(*) FROM reward_receipts WHERE epoch = :e), "
                "(SELECT count(*) FROM telemetry_batches WHERE rolled_at IS NULL)"
            ),
            {"e": epoch},
        ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


@pytest.fixture
def demo_env() -> Iterator[None]:
    os.environ["SWARM_PARAMS"] = "demo"  # the worker's parameter set: 60 s epochs
    yield
    os.environ.pop("SWARM_PARAMS", None)


def wait_for(pred, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sigkill_mid_close_leaves_nothing_and_the_retry_pays_once(
    engine: Engine,
    fresh_db_url: str,
    worker_redis_url: str,
    demo_env: None,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    redis_url = worker_redis_url
    epoch = now_ts() // 60 - 3  # settled in real time, so the worker may close it
    t0 = epoch * 60
    nodes = make_fleet(engine, NODES, types=("gaming_pc", "data_center", "edge_provider"),
                       params=P, registered_at=at(t0 - 30))  # fmt: skip
    bond(engine, nodes, at(t0 - 20), swarm=10_000_000)  # enough for all 30 nodes: paid
    assert send_epoch(engine, nodes, epoch, P) == NODES * SLOTS
    redis.Redis.from_url(redis_url).flushdb()
    assert state(engine, epoch) == (0, 0, 0, SLOTS)

    blocker = psycopg.connect(libpq_url(fresh_db_url))
    blocker.execute("SELECT 1 FROM ledger_head WHERE id = 1 FOR UPDATE")  # the writer lock
    worker = start_worker(fresh_db_url, redis_url)
    workers.append(worker)
    try:
        enqueue(redis_url, TASK_CLOSE_EPOCH, epoch)
        db = urlsplit(fresh_db_url).path.lstrip("/")

        def worker_blocked() -> bool:
            with psycopg.connect(libpq_url(fresh_db_url), autocommit=True) as c:
                n = c.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND wait_event_type = 'Lock' AND state = 'active'",
                    (db,),
                ).fetchone()
            return bool(n and n[0])

        wait_for(worker_blocked, "the close to reach the ledger lock")
        kill_group(worker)  # SIGKILL, mid-close
    finally:
        blocker.rollback()
        blocker.close()
    redis.Redis.from_url(redis_url).flushdb()

    # Nothing of the close survived, not even the telemetry it rolled up on the way.
    assert state(engine, epoch) == (0, 0, 0, SLOTS)
    with engine.connect() as conn:
        assert verify_ledger(conn).ok

    workers.append(start_worker(fresh_db_url, redis_url))
    enqueue(redis_url, TASK_CLOSE_EPOCH, epoch)
    wait_for(lambda: state(engine, epoch)[0] == 1, "the retried close")
    enqueue(redis_url, TASK_CLOSE_EPOCH, epoch)  # a duplicate delivery changes nothing
    time.sleep(1.0)
    assert state(engine, epoch) == (1, 1, NODES, 0)  # one provider paid once, every receipt
    with engine.connect() as conn:
        assert verify_ledger(conn).ok
        assert epochs.verify_epoch(conn, epoch, params=P).ok
