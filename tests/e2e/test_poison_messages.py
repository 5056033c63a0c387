"""A poisoned queue does not stop the workers (issue 10, point 8).

Before, one ``LPUSH celery 'this is not json'`` killed a Celery 5.7 worker (``Unrecoverable
error: JSONDecodeError``), and a valid JSON envelope with a bad base64 body killed the next one;
both messages vanished; and a message whose worker dies under it was requeued forever. Now each
message that cannot be decoded or run is dead-lettered (raw payload and reason), acknowledged,
and the worker goes on to the next one. Real worker process, real Redis protocol (an embedded
Valkey of this session), real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time

import pytest
import redis
from sqlalchemy import Engine, text

from ledger.accounting.domain.transfers import TransferKind
from ledger.accounting.service import create_transfers, expiry_id
from ledger.kit.db import transaction
from ledger.kit.limits import MAX_REDELIVERIES
from ledger.kit.queue import (
    DEAD_LETTER_KEY,
    DELIVERIES_KEY,
    QUEUE,
    TASK_CLOSE_DUE,
    TASK_CLOSE_EPOCH,
    TASK_EXPIRE_PENDING,
    enqueue,
    producer,
    read_dead_letters,
)
from tests.e2e.conftest import start_worker
from tests.integration.helpers import req, setup_accounts

pytestmark = pytest.mark.integration
WAIT_S = 60
BAD_BASE64 = json.dumps({
    "body": "!!! this is not base64 !!!", "content-encoding": "utf-8",
    "content-type": "application/json",
    "headers": {"task": TASK_EXPIRE_PENDING, "id": "poison-2"},
    "properties": {"delivery_tag": "poison-2", "body_encoding": "base64",
                   "delivery_info": {"exchange": "", "routing_key": QUEUE}},
})  # fmt: skip


def redelivered(redis_url: str, task: str, task_id: str) -> str:
    """The envelope Celery sends for ``task``, as kombu requeues it after its worker died."""
    producer(redis_url).send_task(task, task_id=task_id, queue="capture")
    client = redis.Redis.from_url(redis_url)
    payload = json.loads(client.rpop("capture"))
    payload["headers"]["redelivered"] = True
    payload["properties"]["delivery_info"]["redelivered"] = True
    return json.dumps(payload)


def voids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        q = text("SELECT id FROM transfers WHERE kind = 'void_pending'")
        return list(conn.execute(q).scalars().all())


def test_poison_messages_are_dead_lettered_and_the_worker_goes_on(
    engine: Engine, fresh_db_url: str, worker_redis_url: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:  # fmt: skip
    sysa, a, b = setup_accounts(engine)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with transaction(engine) as conn:
        create_transfers(conn, [req("fund", sysa["emission"], a, 100),
                                req("hold", a, b, 30, kind=TransferKind.PENDING, timeout_s=60)],
                         now=past)  # fmt: skip
    r = redis.Redis.from_url(worker_redis_url)
    r.flushdb()
    worker = start_worker(fresh_db_url, worker_redis_url)
    workers.append(worker)

    r.lpush(QUEUE, "this is not json")  # 1: not JSON at all
    r.lpush(QUEUE, BAD_BASE64)  # 2: a JSON envelope whose body is not base64
    enqueue(worker_redis_url, "no.such.task")  # 3: decodes, but no task of that name
    enqueue(worker_redis_url, TASK_CLOSE_EPOCH, "not an epoch")  # 4: runs, fails for good
    # 5: a message its workers died under MAX_REDELIVERIES times already, requeued again
    r.set(DELIVERIES_KEY + "crashes-its-worker", MAX_REDELIVERIES)
    r.lpush(QUEUE, redelivered(worker_redis_url, TASK_CLOSE_DUE, "crashes-its-worker"))
    enqueue(worker_redis_url, TASK_EXPIRE_PENDING)  # 6: a good one, after all of them

    deadline = time.monotonic() + WAIT_S
    while not voids(engine) or r.llen(DEAD_LETTER_KEY) < 5:
        assert worker.poll() is None, "the worker died on a poisoned message"
        assert time.monotonic() < deadline, (voids(engine), r.llen(DEAD_LETTER_KEY))
        time.sleep(0.1)
    assert voids(engine) == [expiry_id("hold")]
    letters = list(reversed(read_dead_letters(r, 10)))  # oldest first
    assert len(letters) == 5
    assert letters[0]["raw"] == b"this is not json" and "not JSON" in letters[0]["reason"]
    assert letters[1]["raw"] == BAD_BASE64.encode() and "base64" in letters[1]["reason"]
    assert letters[2]["task"] == "no.such.task" and "unregistered" in letters[2]["reason"]
    assert letters[3]["task"] == TASK_CLOSE_EPOCH and "failed" in letters[3]["reason"]
    assert b"not an epoch" in letters[3]["raw"]
    assert letters[4]["task"] == TASK_CLOSE_DUE
    limit = MAX_REDELIVERIES
    assert letters[4]["reason"] == f"redelivered {limit + 1} times (limit {limit})"
    time.sleep(0.5)
    assert worker.poll() is None  # still consuming
    assert r.llen(QUEUE) == 0  # every message was taken off the queue (acknowledged)
