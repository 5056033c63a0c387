"""Slashing tasks: judge a closed epoch, and execute slashes whose appeal window ended."""

from __future__ import annotations

from ledger.kit.db import transaction
from ledger.kit.queue import TASK_EVALUATE_EPOCH, TASK_EXECUTE_SLASHES
from ledger.runtime import get_runtime
from ledger.slashing import service as slashing
from workers.celery_app import app
from workers.common import DB_RETRY, now


@app.task(name=TASK_EVALUATE_EPOCH, acks_late=True, **DB_RETRY)
def evaluate_epoch(epoch: int) -> int:
    """Detect the epoch's violations and decide penalties (idempotent: evidence ids)."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        return len(slashing.evaluate_epoch(conn, epoch, now=now(), params=rt.params))


@app.task(name=TASK_EXECUTE_SLASHES, acks_late=True)
def execute_due_slashes() -> int:
    """Execute pending slashes whose appeal window has ended (split 50/30/20)."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        return slashing.execute_due(conn, now=now(), params=rt.params)
