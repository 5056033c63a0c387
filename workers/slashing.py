"""Slashing tasks: judge a closed epoch, sweep for closed epochs never judged, and execute
slashes whose appeal window ended."""

from __future__ import annotations

import logging

from ledger.epochs import service as epochs
from ledger.kit.db import transaction
from ledger.kit.limits import EVALUATE_SWEEP_EPOCHS
from ledger.kit.queue import TASK_EVALUATE_DUE, TASK_EVALUATE_EPOCH, TASK_EXECUTE_SLASHES
from ledger.runtime import get_runtime
from ledger.slashing import service as slashing
from ledger.telemetry import service as telemetry
from workers.celery_app import app
from workers.common import DB_RETRY, now

log = logging.getLogger(__name__)


@app.task(name=TASK_EVALUATE_EPOCH, acks_late=True, **DB_RETRY)
def evaluate_epoch(epoch: int) -> int:
    """Detect the epoch's violations and decide penalties, once: the evaluation is recorded in
    its own transaction, and a duplicate waits on the epoch's lock, then finds it recorded."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:  # its own short transaction: rollups never wait
        telemetry.catch_up(conn, now=now())
    with transaction(rt.engine) as conn:
        if not epochs.begin_evaluation(conn, epoch):
            return 0
        decided = slashing.evaluate_epoch(conn, epoch, now=now(), params=rt.params, catch_up=False)
        epochs.record_evaluation(conn, epoch, len(decided), now())
    log.info("evaluated epoch %d: %d penalties decided", epoch, len(decided))
    return len(decided)


@app.task(name=TASK_EVALUATE_DUE, acks_late=True, **DB_RETRY)
def evaluate_due_epochs() -> list[int]:
    """Beat: enqueue the evaluation of every recent closed epoch that has none (its message
    was lost, or its worker died) and that nobody is evaluating now."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        missing = epochs.epochs_to_evaluate(conn, newest=EVALUATE_SWEEP_EPOCHS)
    for epoch in missing:
        evaluate_epoch.delay(epoch)
    if missing:
        log.info("enqueued the evaluation of closed epochs %s", missing)
    return missing


@app.task(name=TASK_EXECUTE_SLASHES, acks_late=True)
def execute_due_slashes() -> int:
    """Execute pending slashes whose appeal window has ended (split 50/30/20)."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        return slashing.execute_due(
            conn, now=now(), params=rt.params, governors=rt.settings.governor_set
        )
