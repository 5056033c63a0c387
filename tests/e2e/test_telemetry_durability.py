"""Nothing accepted is lost, nothing is counted twice: a real Celery worker is killed with
SIGKILL in the middle of rolling up, Redis is flushed, and recovery still rolls up every
accepted heartbeat exactly once. Real PostgreSQL, real Redis, real worker processes."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis
from sqlalchemy import Engine, text

from ledger.kit.queue import TASK_SWEEP, enqueue
from ledger.telemetry import service as telemetry
from tests.e2e.conftest import kill_group, start_worker
from tests.integration.fleet import make_fleet, now_ts
from tests.integration.test_api import make_client, make_runtime

pytestmark = pytest.mark.integration
BATCHES = 120
NODES = 10
WAIT_S = 90


def counts(engine: Engine) -> tuple[int, int, int]:
    """(heartbeats stored, batches rolled up, heartbeats counted in rollups)"""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM heartbeats), "
                "(SELECT count(*) FROM telemetry_batches WHERE rolled_at IS NOT NULL), "
                "(SELECT coalesce(sum(received), 0) FROM node_epoch_rollups)"
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def test_kill_worker_and_flush_redis_loses_nothing(
    engine: Engine,
    fresh_db_url: str,
    worker_redis_url: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    redis_url = worker_redis_url
    rt = make_runtime(engine, fresh_db_url, redis_url)
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    nodes = make_fleet(engine, NODES)
    t = now_ts()
    with make_client(rt) as client:
        for _ in range(BATCHES):
            body = client.post(
                "/v1/telemetry", json={"heartbeats": [n.heartbeat(t) for n in nodes]}
            ).json()
            assert body["accepted"] == NODES
            r.delete(*r.keys("swarm:rl:*"))  # this test is about durability, not rate limits
    accepted = BATCHES * NODES
    assert counts(engine)[0] == accepted

    worker = start_worker(fresh_db_url, redis_url)
    workers.append(worker)
    deadline = time.monotonic() + WAIT_S
    while counts(engine)[1] < 3:
        assert time.monotonic() < deadline, "the worker rolled up nothing"
        time.sleep(0.02)
    kill_group(worker)  # SIGKILL, in the middle of the queue, maybe of a batch
    r.flushdb()  # every queued message and any unacked one is gone

    stored, rolled, counted = counts(engine)
    assert stored == accepted
    assert rolled < BATCHES, "the worker finished before it was killed; raise BATCHES"
    assert counted == rolled * NODES  # whatever was rolled, was rolled whole

    # Recovery: a fresh worker, and the sweeper (as beat would run it) finds the lost batches.
    workers.append(start_worker(fresh_db_url, redis_url))
    enqueue(redis_url, TASK_SWEEP, 0)
    deadline = time.monotonic() + WAIT_S
    while counts(engine)[1] < BATCHES:
        assert time.monotonic() < deadline, f"stuck at {counts(engine)}"
        time.sleep(0.1)
    assert counts(engine) == (accepted, BATCHES, accepted)
    epoch = t // rt.params.epoch.epoch_length_s
    ids = [n.node_id for n in nodes]
    with engine.connect() as conn:
        assert telemetry.epoch_rollups(conn, epoch, rt.params, ids) == (
            telemetry.epoch_rollups_from_raw(conn, epoch, rt.params, ids)
        )
