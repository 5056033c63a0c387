"""Accounting tasks: expire pending transfers, and the periodic audit of the whole ledger."""

from __future__ import annotations

import logging

from ledger.accounting.service import expire_pending, verify_ledger
from ledger.kit.db import snapshot, transaction
from ledger.kit.limits import AUDIT_TIME_LIMIT_S
from ledger.kit.queue import TASK_AUDIT, TASK_EXPIRE_PENDING
from ledger.runtime import get_runtime
from workers.celery_app import app
from workers.common import now

log = logging.getLogger(__name__)


@app.task(name=TASK_EXPIRE_PENDING, acks_late=True)
def expire_pending_transfers() -> int:
    """Void pending transfers whose timeout passed (deterministic void ids: runs may overlap)."""
    with transaction(get_runtime().engine) as conn:
        return expire_pending(conn, now=now())


@app.task(name=TASK_AUDIT, soft_time_limit=AUDIT_TIME_LIMIT_S - 60, time_limit=AUDIT_TIME_LIMIT_S)
def audit() -> dict[str, object]:
    """The periodic audit: the hash chain and every ledger invariant (as `swarm-ledger verify`).
    A broken invariant is logged at ERROR with the first broken row, for alerting."""
    with snapshot(get_runtime().engine) as conn:
        report = verify_ledger(conn)
    if not report.ok:
        log.error("ledger audit FAILED: %s", "; ".join(str(b) for b in report.breaches[:5]))
    # "violations": the key the audit's result has always had (its readers look it up).
    return {"ok": report.ok, "transfers": report.transfers,
            "violations": [str(b) for b in report.breaches[:20]]}  # fmt: skip
