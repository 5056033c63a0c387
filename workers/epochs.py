"""Epoch tasks: close settled epochs in order, then have each closed epoch judged.

Only the oldest unclosed epoch is ever enqueued: beat's due check enqueues it (unless a close
holds it), and a close that commits enqueues the next one. Two workers therefore never race to
close epochs out of order, and a close killed mid-way is found by the next due check (its
advisory lock went with its connection), well within a minute.
"""

from __future__ import annotations

import logging

from ledger.epochs import restorations
from ledger.epochs import service as epochs
from ledger.kit.db import transaction
from ledger.kit.errors import Conflict
from ledger.kit.limits import CLOSE_TIME_LIMIT_S
from ledger.kit.queue import TASK_CLOSE_DUE, TASK_CLOSE_EPOCH, TASK_RESTORE_REWARDS
from ledger.runtime import get_runtime
from workers.celery_app import app
from workers.common import DB_RETRY, now
from workers.slashing import evaluate_epoch

log = logging.getLogger(__name__)

#: Conflicts a redelivered or duplicated close meets in normal operation: not a person's job.
EXPECTED_RACES = frozenset({"epoch_out_of_order"})


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
    try:
        with transaction(rt.engine) as conn:
            res = epochs.close_epoch(conn, epoch, now=now(), params=rt.params)
    except Conflict as exc:
        if exc.code not in EXPECTED_RACES:
            raise
        log.info("epoch %d not closed: %s (the due check enqueues the right one)", epoch, exc)
        return {"epoch": epoch, "closed_now": False, "skipped": exc.code}
    e = res.epoch
    if res.closed_now:
        log.info("closed epoch %d: %d/%d nodes paid", epoch, e.eligible_nodes, e.node_count)
        # Committed: judge the epoch (the evaluation sweep finds it should this message be
        # lost), and close the next one if it is due already (a backlog drains in order).
        evaluate_epoch.delay(epoch)
        close_due_epochs.delay()
    return {"epoch": epoch, "closed_now": res.closed_now, "root": e.merkle_root.hex()}


@app.task(name=TASK_CLOSE_DUE, acks_late=True, **DB_RETRY)
def close_due_epochs() -> int | None:
    """Beat, every few seconds: enqueue the oldest settled epoch that is not closed and that
    no close holds (after a crash, this is what redoes the close)."""
    rt = get_runtime()
    with transaction(rt.engine) as conn:
        epoch = epochs.next_epoch_to_close(conn, now=now(), params=rt.params)
    if epoch is not None:
        close_epoch.delay(epoch)
    return epoch


@app.task(name=TASK_RESTORE_REWARDS, acks_late=True, **DB_RETRY)
def restore_lost_rewards() -> int:
    """Beat, every minute: pay back what voided or overturned penalties cost in closed epochs
    (docs/slashing.md), a few epochs per run, each in its own short transaction."""
    rt = get_runtime()
    written, refused = restorations.restore_due(lambda: transaction(rt.engine), now=now())
    if written:
        log.info("restored the rewards of %d (penalty, epoch) pairs", written)
    for line in refused:
        # A short insurance pool waits for slashes to refill it; changed inputs need a person.
        log.warning("reward restoration waits: %s", line)
    return written
