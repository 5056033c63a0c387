"""Epoch tasks: close settled epochs in order, then have each closed epoch judged."""

from __future__ import annotations

from ledger.epochs import service as epochs
from ledger.kit.db import transaction
from ledger.kit.limits import CLOSE_TIME_LIMIT_S
from ledger.kit.queue import TASK_CLOSE_DUE, TASK_CLOSE_EPOCH
from ledger.runtime import get_runtime
from workers.celery_app import app
from workers.common import DB_RETRY, now
from workers.slashing import evaluate_epoch


@app.task(
    name=TASK_CLOSE_EPOCH,
    acks_late=True,
    soft_time_limit=CLOSE_TIME_LIMIT_S - 60,
    time_limit=CLOSE_TIME_LIMIT_S,
    **DB_RETRY,
)
def close_epoch(epoch: int) -> dict[str, object]:
    """Close one reward epoch (idempotent: a second run finds it closed and writes nothing)."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        res = epochs.close_epoch(conn, epoch, now=now(), params=rt.params)
    # Committed: now judge the epoch (its penalties shape the standing of later epochs).
    evaluate_epoch.delay(epoch)
    return {"epoch": epoch, "closed_now": res.closed_now, "root": res.epoch.merkle_root.hex()}


@app.task(name=TASK_CLOSE_DUE, acks_late=True)
def close_due_epochs() -> list[int]:
    """Beat, at every epoch boundary and a few times in between: enqueue settled epochs."""
    rt = get_runtime()
    with rt.engine.connect() as conn:
        due = epochs.due_epochs(conn, now=now(), params=rt.params)
    for epoch in due:
        close_epoch.delay(epoch)
    return due
