"""Settlement tasks, on their own ``settlement`` queue: send the outbox, follow it to finality.

They run from beat every few seconds and do nothing without a chain (CHAIN_RPC_URL unset).
Running either twice at once is safe: nonces are allocated under the signer's advisory lock
and every transaction is recorded before it is sent (docs/settlement.md).
"""

from __future__ import annotations

import logging
from functools import lru_cache

from ledger.kit.db import transaction
from ledger.kit.queue import TASK_SETTLEMENT_SUBMIT, TASK_SETTLEMENT_TRACK, TASK_SETTLEMENT_WATCH
from ledger.runtime import get_runtime
from ledger.settlement import reconcile, watcher
from ledger.settlement import service as settlement
from ledger.settlement.config import load_chain
from workers.celery_app import app
from workers.common import DB_RETRY, now

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _chain() -> settlement.Chain | None:
    return load_chain(get_runtime().settings)


@app.task(name=TASK_SETTLEMENT_SUBMIT, acks_late=True, **DB_RETRY)
def submit() -> int:
    """Sign, record and send a transaction for every outbox item none carries yet."""
    chain = _chain()
    if chain is None:
        return 0
    rt = get_runtime()
    sent = settlement.submit_due(lambda: transaction(rt.engine), chain, now=now())
    if sent:
        log.info("settlement: %d transactions recorded and sent", len(sent))
    return len(sent)


@app.task(name=TASK_SETTLEMENT_TRACK, acks_late=True, **DB_RETRY)
def track() -> dict[str, int]:
    """Follow every open settlement transaction one step (included, final, reorged, ...)."""
    chain = _chain()
    if chain is None:
        return {}
    rt = get_runtime()
    moved = settlement.track(lambda: transaction(rt.engine), chain, now=now())
    if moved:
        log.info("settlement: %s", moved)
    return moved


@app.task(name=TASK_SETTLEMENT_WATCH, acks_late=True, **DB_RETRY)
def watch() -> int:
    """Index the contracts' events up to the finalized block into the ledger (stakes, unbond
    requests, withdrawals, claims), then reconcile receipts, the ledger and the contracts; a
    drift halts new submissions until a reconciliation finds none."""
    chain = _chain()
    if chain is None:
        return 0
    rt = get_runtime()
    n = watcher.index_final(
        lambda: transaction(rt.engine), chain, now=now(), start_block=chain.start_block,
        params=rt.params,
    )  # fmt: skip
    with transaction(rt.engine) as conn:
        reconcile.reconcile(conn, chain, now=now())
    return n
