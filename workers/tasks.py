"""Thin tasks: take ids, call a service in one transaction, nothing else.

Idempotent by construction (the services claim their unit of work in the same transaction that
does it), so late acknowledgement and redelivery after a crash are safe.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.exc import OperationalError

from ledger.db.engine import transaction
from ledger.queue import TASK_ROLLUP_BATCH, TASK_SWEEP
from ledger.runtime import get_runtime
from ledger.services import telemetry
from workers.celery_app import app

log = logging.getLogger(__name__)

#: Retries of a task that hit a database outage, with exponential backoff.
MAX_RETRIES = 5


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@app.task(
    name=TASK_ROLLUP_BATCH,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def rollup_batch(batch_id: int) -> int | None:
    """Add one accepted telemetry batch to the rollups (exactly once)."""
    with transaction(get_runtime().engine) as conn:
        return telemetry.rollup_batch(conn, batch_id, now=_now())


@app.task(name=TASK_SWEEP, acks_late=True)
def sweep(older_than_s: int = telemetry.SWEEP_AFTER_S) -> int:
    """Re-enqueue batches whose rollup message was lost, and keep partitions ahead of time."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        telemetry.ensure_partitions(conn, _now())
        lost = telemetry.lost_batches(conn, now=_now(), older_than_s=older_than_s)
    for batch_id in lost:
        rollup_batch.delay(batch_id)
    if lost:
        log.warning("re-enqueued %d telemetry batches whose message was lost", len(lost))
    return len(lost)
