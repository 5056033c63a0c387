"""Rewards a reversed penalty cost, paid back (SPEC 6: "a void ... restores lost rewards").

A penalty jails a node (or lowers its standing) at once, so the epochs that close while it is
pending pay the node nothing or less. When a governor quorum voids it, or an executed slash is
overturned, those closed epochs are not edited: each is recomputed from its stored inputs with
the node's fair standing (every reversed penalty of the node left out), and the difference
between what the node would have been paid and what it was paid is credited to its provider,
with the recomputed receipt kept beside the transfer (docs/slashing.md, "Restoring rewards").

- **Which epochs**: those whose standing cutoff fell after the decision and at or before the
  reversal (``ledger.slashing.standing.restoration_span``); an epoch of that span closes after
  the reversal with the penalty still in effect (its cutoff came first), so the sweep comes back
  for it once it is closed.
- **How much**: ``max(0, fair - paid - restored before)`` for the node in that epoch. The
  recomputation runs the epoch's own calculator, parameter set (found by the hash it recorded)
  and previous scale over ``gather_inputs``; the inputs must hash to the digest the epoch
  stored, or nothing is paid (``inputs_changed``: ``verify epoch`` has something to say).
- **From where**: the insurance pool, which SPEC section 6 keeps for refunds of overturned
  slashes. The epoch's own pool and its emission stay as they were ("per epoch, sum of rewards
  = pool" holds); a pool too small to pay waits, and the sweep tries again.
- **Into what**: the provider's ``rewards_accrued``, code 305 ``SLASH_REWARD_RESTORE``, id
  ``restore:<penalty>:<epoch>``; it matures into ``rewards_claimable`` at the next close (the
  reversal is final, so there is nothing to wait for).

Each (penalty, epoch) is one short transaction under its own advisory lock; the row and the
transfer commit together, so a retry finds the row and pays nothing twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection

from ledger.accounting.domain import codes
from ledger.accounting.domain.accounts import AccountKind
from ledger.accounting.domain.transfers import TransferRequest
from ledger.epochs import keepers
from ledger.epochs.repository import RestorationsRepository
from ledger.epochs.service import gather_stored_inputs, receipt_values
from ledger.kit.errors import Conflict, SwarmError
from ledger.rewards.domain import RewardReceipt, compute_epoch
from ledger.slashing import domain as sl

log = logging.getLogger(__name__)

#: At most this many (penalty, epoch) pairs are restored per sweep (each recomputes an epoch);
#: refused ones do not count.
MAX_PER_SWEEP = 8


def due_restorations(conn: Connection) -> list[tuple[str, int]]:
    """(penalty, epoch) pairs to restore now, oldest reversal first: every closed epoch of a
    reversed penalty's span without a restoration row yet. The spans are counted on the epoch
    clock of the last closed epoch's parameter set (epoch length and settle grace). A penalty
    whose span is too long to replay is logged and left out (never the others with it)."""
    rewards = keepers.RewardsRepository(conn)
    last = rewards.last_closed()
    if last is None:
        return []
    params = keepers.params_of_hash(conn, last.params_hash)
    done = RestorationsRepository(conn).done()
    out: list[tuple[str, int]] = []
    for row in keepers.reversed_penalties(conn):
        try:
            first, span_last = keepers.restoration_span(row, params)
        except ValueError as err:
            log.error("reward restoration of penalty %s needs a person: %s", row.id, err)
            continue
        for epoch in range(first, min(span_last, last.epoch) + 1):
            if (row.id, epoch) not in done and rewards.get_epoch(epoch) is not None:
                out.append((row.id, epoch))
    return out


def restore_epoch(
    conn: Connection, penalty_id: str, epoch: int, *, now: dt.datetime
) -> dict[str, Any]:
    """Recompute ``epoch`` with the node's fair standing and pay what the penalty cost it.

    Returns the restoration row (an existing one unchanged: idempotent). Refusals:
    ``penalty_not_reversed`` (the penalty is not voided or overturned), ``epoch_not_closed``,
    ``epoch_outside_span`` (its standing was not computed under the penalty),
    ``inputs_changed`` (the stored inputs no longer hash to the epoch's digest) and, while the
    insurance pool holds less than is owed, ``exceeds_credits`` (nothing is written)."""
    repo = RestorationsRepository(conn)
    repo.lock(epoch)
    existing = repo.get(penalty_id, epoch)
    if existing is not None:
        return existing
    penalty = keepers.get_penalty(conn, penalty_id)
    if penalty.status not in (sl.SlashStatus.VOIDED, sl.SlashStatus.OVERTURNED):
        raise Conflict(f"penalty {penalty_id} is {penalty.status}, not voided or overturned",
                       code="penalty_not_reversed", field="penalty_id")  # fmt: skip
    rewards = keepers.RewardsRepository(conn)
    stored = rewards.get_epoch(epoch)
    if stored is None:
        raise Conflict(f"epoch {epoch} is not closed", code="epoch_not_closed", field="epoch")
    params = keepers.params_of_hash(conn, stored.params_hash)
    first, last = keepers.restoration_span(penalty, params)
    if not first <= epoch <= last:
        raise Conflict(
            f"epoch {epoch}: penalty {penalty_id} was in effect for epochs {first}..{last}",
            code="epoch_outside_span", field="epoch",
        )  # fmt: skip
    fair_standing = keepers.fair_standing(conn, epoch, params, penalty.node_id)
    paid = rewards.receipts(epoch).get(penalty.node_id, (0, {}))[0]
    receipt = _fair_receipt(conn, epoch, stored, params, penalty.node_id, fair_standing)
    fair = receipt.amount_base_units if receipt else 0
    before = repo.restored_to(penalty.node_id, epoch)
    owed = max(0, fair - paid - before)
    transfer_id = f"restore:{penalty_id}:{epoch}" if owed else None
    if transfer_id is not None:
        _pay(conn, transfer_id, penalty, epoch, owed, paid, fair, now)
    repo.insert(
        {
            "penalty_id": penalty_id, "epoch": epoch, "node_id": penalty.node_id,
            "provider_id": penalty.provider_id, "paid": paid, "fair": fair, "restored": owed,
            "transfer_id": transfer_id, "fair_standing": _standing_json(fair_standing),
            "receipt": _receipt_json(receipt), "restored_at": now,
        }
    )  # fmt: skip
    row = repo.get(penalty_id, epoch)
    assert row is not None
    return row


def _fair_receipt(
    conn: Connection,
    epoch: int,
    stored: keepers.EpochRow,
    params: Any,
    node_id: str,
    standing: sl.NodeStanding,
) -> RewardReceipt | None:
    """The node's receipt for ``epoch`` recomputed with ``standing``; None if the node was not
    active as of the epoch's end (it was paid nothing and is owed nothing)."""
    inputs, network = gather_stored_inputs(conn, stored, params, code="inputs_changed")
    if not any(i.node_id == node_id for i in inputs):
        return None
    fair_inputs = [
        dataclasses.replace(
            i,
            standing_ppm=standing.standing_ppm,
            jailed=standing.status == sl.StandingStatus.JAILED,
            tombstoned=standing.status == sl.StandingStatus.TOMBSTONED,
        )
        if i.node_id == node_id
        else i
        for i in inputs
    ]
    prev = keepers.RewardsRepository(conn).get_epoch(epoch - 1)
    result = compute_epoch(epoch, fair_inputs, network, prev.scale_ppm if prev else None, params)
    return next(r for r in result.receipts if r.node_id == node_id)


def _pay(
    conn: Connection,
    transfer_id: str,
    penalty: Any,
    epoch: int,
    owed: int,
    paid: int,
    fair: int,
    now: dt.datetime,
) -> None:
    """insurance_pool -> the provider's rewards_accrued (refused while the pool is short)."""
    insurance = keepers.open_system_accounts(conn)[AccountKind.INSURANCE_POOL]
    accrued = keepers.open_provider_accounts(conn, penalty.provider_id)[AccountKind.REWARDS_ACCRUED]
    keepers.create_transfers(
        conn,
        [
            TransferRequest(
                transfer_id, insurance, accrued, owed, codes.SLASH_REWARD_RESTORE, epoch=epoch,
                metadata={
                    "penalty_id": penalty.id, "node_id": penalty.node_id,
                    "paid_base_units": str(paid), "fair_base_units": str(fair),
                },
            )
        ],
        now=now,
    )  # fmt: skip


def _standing_json(s: sl.NodeStanding) -> dict[str, Any]:
    return {
        "status": str(s.status),
        "standing_ppm": s.standing_ppm,
        "restoration_step": s.restoration_step,
    }


def _receipt_json(r: RewardReceipt | None) -> dict[str, Any] | None:
    return None if r is None else dict(zip(RewardReceipt._fields, receipt_values(r), strict=True))


def restore_due(
    transaction: Callable[[], AbstractContextManager[Connection]],
    *,
    now: dt.datetime,
    limit: int = MAX_PER_SWEEP,
) -> tuple[int, list[str]]:
    """Beat's sweep: restore every due (penalty, epoch), each in its own transaction.

    Returns (rows written, refusals as ``penalty/epoch: code`` lines, for the log); a refused
    pair is tried again at the next sweep."""
    with transaction() as conn:
        due = due_restorations(conn)
    written, refused = 0, []
    # Refused pairs (a short insurance pool, changed inputs) write nothing and are tried again
    # next sweep; they never keep later pairs from being restored in this one.
    # Each attempt recomputes an epoch: at most 4 x limit of them per sweep, refused or not.
    for penalty_id, epoch in due[: 4 * limit]:
        if written >= limit:
            break
        try:
            with transaction() as conn:
                restore_epoch(conn, penalty_id, epoch, now=now)
            written += 1
        except SwarmError as err:  # exceeds_credits (pool short), inputs_changed, ...
            refused.append(f"{penalty_id}/{epoch}: {err.code}")
    return written, refused


def restorations_of(conn: Connection, penalty_id: str) -> list[dict[str, Any]]:
    """Every restoration of a penalty, oldest epoch first (404 for an unknown penalty)."""
    keepers.get_penalty(conn, penalty_id)
    return RestorationsRepository(conn).of_penalty(penalty_id)
