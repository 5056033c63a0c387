"""The Celery app: one configuration for the producer side (API) and the workers.

Tasks take ids, acknowledge late (a worker killed mid-task leaves the message to be redelivered),
have explicit names and time limits, and are idempotent, so redelivery is harmless.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery

from ledger.kit.limits import (
    AUDIT_INTERVAL_S,
    CLOSE_CHECK_INTERVAL_S,
    EXECUTE_INTERVAL_S,
    EXPIRE_INTERVAL_S,
    SWEEP_INTERVAL_S,
    TASK_SOFT_TIME_LIMIT_S,
    TASK_TIME_LIMIT_S,
    VISIBILITY_TIMEOUT_S,
)

TASK_ROLLUP_BATCH = "telemetry.rollup_batch"
TASK_SWEEP = "telemetry.sweep"
TASK_CLOSE_EPOCH = "rewards.close_epoch"
TASK_CLOSE_DUE = "rewards.close_due_epochs"
TASK_EXPIRE_PENDING = "ledger.expire_pending"
TASK_EVALUATE_EPOCH = "slashing.evaluate_epoch"
TASK_EXECUTE_SLASHES = "slashing.execute_due"
TASK_AUDIT = "ledger.audit"


def make_celery(broker_url: str) -> Celery:
    app = Celery("swarm_ledger", broker=broker_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_soft_time_limit=TASK_SOFT_TIME_LIMIT_S,
        task_time_limit=TASK_TIME_LIMIT_S,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        worker_hijack_root_logger=False,
        beat_schedule={
            "telemetry-sweep": {"task": TASK_SWEEP, "schedule": SWEEP_INTERVAL_S},
            "rewards-close-due": {"task": TASK_CLOSE_DUE, "schedule": CLOSE_CHECK_INTERVAL_S},
            "ledger-expire-pending": {"task": TASK_EXPIRE_PENDING, "schedule": EXPIRE_INTERVAL_S},
            "ledger-audit": {"task": TASK_AUDIT, "schedule": AUDIT_INTERVAL_S},
            "slashing-execute-due": {"task": TASK_EXECUTE_SLASHES, "schedule": EXECUTE_INTERVAL_S},
        },
        timezone="UTC",
    )
    return app


@lru_cache(maxsize=4)
def producer(broker_url: str) -> Celery:
    """A Celery app used only to send tasks by name (the API never imports the workers)."""
    return make_celery(broker_url)


def enqueue(broker_url: str, task_name: str, *args: Any) -> None:
    producer(broker_url).send_task(task_name, args=list(args))
