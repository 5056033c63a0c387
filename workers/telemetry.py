"""Telemetry tasks: roll up accepted batches, and sweep for batches whose message was lost."""

from __future__ import annotations

import logging

from ledger.kit.db import transaction
from ledger.kit.limits import SWEEP_AFTER_S
from ledger.kit.queue import TASK_ROLLUP_BATCH, TASK_SWEEP
from ledger.runtime import get_runtime
from ledger.telemetry import service as telemetry
from workers.celery_app import app
from workers.common import DB_RETRY, now

log = logging.getLogger(__name__)


@app.task(name=TASK_ROLLUP_BATCH, acks_late=True, **DB_RETRY)
def rollup_batch(batch_id: int) -> int | None:
    """Add one accepted telemetry batch to the rollups (exactly once)."""
    with transaction(get_runtime().engine) as conn:
        return telemetry.rollup_batch(conn, batch_id, now=now())


@app.task(name=TASK_SWEEP, acks_late=True)
def sweep(older_than_s: int = SWEEP_AFTER_S) -> int:
    """Re-enqueue batches whose rollup message was lost, and keep partitions ahead of time."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        telemetry.ensure_partitions(conn, now())
        lost = telemetry.lost_batches(conn, now=now(), older_than_s=older_than_s)
    for batch_id in lost:
        rollup_batch.delay(batch_id)
    if lost:
        log.warning("re-enqueued %d telemetry batches whose message was lost", len(lost))
    return len(lost)
