"""The Celery app: one configuration for the producer side (API) and the workers.

Tasks take ids, acknowledge late (a worker killed mid-task leaves the message to be redelivered),
have explicit names and time limits, and are idempotent, so redelivery is harmless.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from functools import lru_cache
from typing import Any

from celery import Celery

from ledger.kit.limits import (
    AUDIT_INTERVAL_S,
    CLOSE_CHECK_INTERVAL_S,
    EVALUATE_CHECK_INTERVAL_S,
    EXECUTE_INTERVAL_S,
    EXPIRE_INTERVAL_S,
    MAX_DEAD_LETTER_BYTES,
    MAX_DEAD_LETTERS,
    SETTLEMENT_INTERVAL_S,
    SWEEP_INTERVAL_S,
    TASK_SOFT_TIME_LIMIT_S,
    TASK_TIME_LIMIT_S,
    VISIBILITY_TIMEOUT_S,
    WORKER_PREFETCH,
)

TASK_ROLLUP_BATCH = "telemetry.rollup_batch"
TASK_SWEEP = "telemetry.sweep"
TASK_CLOSE_EPOCH = "rewards.close_epoch"
TASK_CLOSE_DUE = "rewards.close_due_epochs"
TASK_EXPIRE_PENDING = "ledger.expire_pending"
TASK_EVALUATE_EPOCH = "slashing.evaluate_epoch"
TASK_EVALUATE_DUE = "slashing.evaluate_due_epochs"
TASK_EXECUTE_SLASHES = "slashing.execute_due"
TASK_AUDIT = "ledger.audit"
TASK_RESTORE_REWARDS = "rewards.restore_lost"
TASK_SETTLEMENT_SUBMIT = "settlement.submit"
TASK_SETTLEMENT_TRACK = "settlement.track"
TASK_SETTLEMENT_WATCH = "settlement.watch"
#: The settlement tasks' own queue (a worker consuming it holds the chain keys).
SETTLEMENT_QUEUE = "settlement"


def make_celery(broker_url: str, task_cls: str | None = None, *, settle: bool = False) -> Celery:
    """The app; ``task_cls`` is the workers' task base class (the producer needs none).
    ``settle``: beat also sends the settlement tasks (only with a chain configured, so no
    message waits on a ``settlement`` queue nobody consumes)."""
    app = Celery("swarm_ledger", broker=broker_url, task_cls=task_cls)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=WORKER_PREFETCH,
        task_soft_time_limit=TASK_SOFT_TIME_LIMIT_S,
        task_time_limit=TASK_TIME_LIMIT_S,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        worker_hijack_root_logger=False,
        task_routes={"settlement.*": {"queue": SETTLEMENT_QUEUE}},
        beat_schedule={
            "telemetry-sweep": {"task": TASK_SWEEP, "schedule": SWEEP_INTERVAL_S},
            "rewards-close-due": {"task": TASK_CLOSE_DUE, "schedule": CLOSE_CHECK_INTERVAL_S},
            "slashing-evaluate-due": {
                "task": TASK_EVALUATE_DUE,
                "schedule": EVALUATE_CHECK_INTERVAL_S,
            },
            "ledger-expire-pending": {"task": TASK_EXPIRE_PENDING, "schedule": EXPIRE_INTERVAL_S},
            "ledger-audit": {"task": TASK_AUDIT, "schedule": AUDIT_INTERVAL_S},
            "slashing-execute-due": {"task": TASK_EXECUTE_SLASHES, "schedule": EXECUTE_INTERVAL_S},
            "rewards-restore-lost": {"task": TASK_RESTORE_REWARDS, "schedule": EXECUTE_INTERVAL_S},
        },
        timezone="UTC",
    )
    if settle:
        every = SETTLEMENT_INTERVAL_S
        app.conf.beat_schedule.update(
            {
                "settlement-submit": {"task": TASK_SETTLEMENT_SUBMIT, "schedule": every},
                "settlement-track": {"task": TASK_SETTLEMENT_TRACK, "schedule": every},
                "settlement-watch": {"task": TASK_SETTLEMENT_WATCH, "schedule": 3 * every},
            }
        )
    return app


#: The queue the workers consume (Celery's default), and the Redis list of dead letters.
QUEUE = "celery"
DEAD_LETTER_KEY = "swarm-ledger:dead-letters"
#: Per task id: how many times it was redelivered (a key only for redelivered tasks; it
#: outlives the visibility timeout, after which an unacknowledged message is redelivered).
DELIVERIES_KEY = "swarm-ledger:redeliveries:"


def count_delivery(client: Any, task_id: str) -> int:
    """Count one more redelivery of ``task_id``; returns the count so far."""
    key = DELIVERIES_KEY + task_id
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, 2 * VISIBILITY_TIMEOUT_S)
    count, _ = pipe.execute()
    return int(count)


def record_dead_letter(
    client: Any, raw: bytes | str, *, reason: str, queue: str = QUEUE, task: str | None = None
) -> None:
    """Keep a message the workers could not decode or run, with why, for a person to read.

    ``client`` is a redis client. The newest letters are first; the list is capped at
    ``MAX_DEAD_LETTERS`` and each raw payload at ``MAX_DEAD_LETTER_BYTES`` (base64 of the bytes,
    so any payload survives the JSON).
    """
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
    letter = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "queue": queue,
        "task": task,
        "reason": reason[:2_000],
        "raw_b64": base64.b64encode(data[:MAX_DEAD_LETTER_BYTES]).decode(),
        "raw_bytes": len(data),
    }
    pipe = client.pipeline()
    pipe.lpush(DEAD_LETTER_KEY, json.dumps(letter))
    pipe.ltrim(DEAD_LETTER_KEY, 0, MAX_DEAD_LETTERS - 1)
    pipe.execute()


def read_dead_letters(client: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` dead letters, each with its raw payload decoded as ``raw``."""
    out = []
    for item in client.lrange(DEAD_LETTER_KEY, 0, max(0, limit - 1)):
        letter = json.loads(item)
        letter["raw"] = base64.b64decode(letter.pop("raw_b64"))
        out.append(letter)
    return out


@lru_cache(maxsize=4)
def producer(broker_url: str) -> Celery:
    """A Celery app used only to send tasks by name (the API never imports the workers)."""
    return make_celery(broker_url)


def enqueue(broker_url: str, task_name: str, *args: Any) -> None:
    producer(broker_url).send_task(task_name, args=list(args))
