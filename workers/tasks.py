"""Thin tasks: take ids, call a service in one transaction, nothing else.

Idempotent by construction (the services claim their unit of work in the same transaction that
does it), so late acknowledgement and redelivery after a crash are safe.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.exc import OperationalError

from ledger.db.engine import transaction
from ledger.queue import (
    TASK_AUDIT,
    TASK_CLOSE_DUE,
    TASK_CLOSE_EPOCH,
    TASK_EVALUATE_EPOCH,
    TASK_EXECUTE_SLASHES,
    TASK_EXPIRE_PENDING,
    TASK_ROLLUP_BATCH,
    TASK_SWEEP,
)
from ledger.runtime import get_runtime
from ledger.services import epochs, slashing, telemetry
from ledger.services.ledger import expire_pending
from ledger.services.verify import verify_ledger
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


#: An epoch close of a million nodes takes tens of seconds; leave it room.
CLOSE_TIME_LIMIT_S = 900


@app.task(
    name=TASK_CLOSE_EPOCH,
    acks_late=True,
    soft_time_limit=CLOSE_TIME_LIMIT_S - 60,
    time_limit=CLOSE_TIME_LIMIT_S,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def close_epoch(epoch: int) -> dict[str, object]:
    """Close one reward epoch (idempotent: a second run finds it closed and writes nothing)."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        res = epochs.close_epoch(conn, epoch, now=_now(), params=rt.params)
    # Committed: now judge the epoch (its penalties shape the standing of later epochs).
    evaluate_epoch.delay(epoch)
    return {"epoch": epoch, "closed_now": res.closed_now, "root": res.epoch.merkle_root.hex()}


@app.task(name=TASK_CLOSE_DUE, acks_late=True)
def close_due_epochs() -> list[int]:
    """Beat, at every epoch boundary and a few times in between: enqueue settled epochs."""
    rt = get_runtime()
    with rt.engine.connect() as conn:
        due = epochs.due_epochs(conn, now=_now(), params=rt.params)
    for epoch in due:
        close_epoch.delay(epoch)
    return due


@app.task(name=TASK_EXPIRE_PENDING, acks_late=True)
def expire_pending_transfers() -> int:
    """Void pending transfers whose timeout passed (deterministic void ids: runs may overlap)."""
    with transaction(get_runtime().engine) as conn:
        return expire_pending(conn, now=_now())


#: The audit replays the whole chain: give it room.
AUDIT_TIME_LIMIT_S = 3000


@app.task(name=TASK_AUDIT, soft_time_limit=AUDIT_TIME_LIMIT_S - 60, time_limit=AUDIT_TIME_LIMIT_S)
def audit() -> dict[str, object]:
    """The periodic audit: the hash chain and every ledger invariant (as `swarm-ledger verify`).
    A broken invariant is logged at ERROR with the first broken row, for alerting."""
    from sqlalchemy import text

    with get_runtime().engine.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        report = verify_ledger(conn)
    if not report.ok:
        log.error("ledger audit FAILED: %s", "; ".join(str(v) for v in report.violations[:5]))
    return {"ok": report.ok, "transfers": report.transfers,
            "violations": [str(v) for v in report.violations[:20]]}  # fmt: skip


@app.task(name=TASK_EVALUATE_EPOCH, acks_late=True, autoretry_for=(OperationalError,),
          retry_backoff=True, max_retries=MAX_RETRIES)  # fmt: skip
def evaluate_epoch(epoch: int) -> int:
    """Detect the epoch's violations and decide penalties (idempotent: evidence ids)."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        return len(slashing.evaluate_epoch(conn, epoch, now=_now(), params=rt.params))


@app.task(name=TASK_EXECUTE_SLASHES, acks_late=True)
def execute_due_slashes() -> int:
    """Execute pending slashes whose appeal window has ended (split 50/30/20)."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        return slashing.execute_due(conn, now=_now(), params=rt.params)
