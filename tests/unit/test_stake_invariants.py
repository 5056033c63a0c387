"""The stake life cycle invariants of ``verify`` (issue 15): no unbonding entry beyond its
account's balance, every overturned penalty fully restored."""

from __future__ import annotations

from typing import Any

from ledger.accounting.domain import codes
from ledger.accounting.domain.invariants import (
    overturned_penalties_restored,
    unbonding_entries_within_balance,
)
from ledger.accounting.domain.transfers import AccountState, NormalBalance, Transfer, TransferKind

BONDED, UNBONDING, ESCROW, INSURANCE = 1, 2, 3, 4


def tr(
    seq: int, tid: str, kind: TransferKind, debit: int, credit: int, amount: int, code: int,
    ref_id: str | None = None, **meta: Any,
) -> Transfer:  # fmt: skip
    return Transfer(seq, tid, kind, debit, credit, "SWARM", amount, code, None, ref_id, None,
                    meta, 0, b"", b"")  # fmt: skip


def unbonding(credits: int, debits: int) -> AccountState:
    return AccountState(UNBONDING, "SWARM", NormalBalance.CREDIT, False, 0, debits, 0, credits)


P = TransferKind.POSTED
UNBOND = tr(1, "unbond:p:r", P, BONDED, UNBONDING, 100, codes.STAKE_UNBOND)


def test_an_entry_slashed_without_being_reduced_is_a_breach() -> None:
    # Before issue 15 the hold named no entry: the entry still claims 100 of a balance of 80.
    hold = tr(2, "slash:x:unbonding", TransferKind.PENDING, UNBONDING, ESCROW, 20,
              codes.SLASH_HOLD, penalty_id="x")  # fmt: skip
    post = tr(3, "slash:x:unbonding:post", TransferKind.POST_PENDING, UNBONDING, ESCROW, 20,
              codes.SLASH_EXECUTE, ref_id=hold.id, penalty_id="x")  # fmt: skip
    breaches = unbonding_entries_within_balance([UNBOND, hold, post], [unbonding(100, 20)])
    assert [b.invariant for b in breaches] == ["unbonding_entries_within_balance"] * 2
    named = hold._replace(metadata={"penalty_id": "x", "unbond_transfer_id": UNBOND.id})
    assert unbonding_entries_within_balance([UNBOND, named, post], [unbonding(100, 20)]) == []
    withdrawn = tr(4, "withdraw:p:r", P, UNBONDING, 9, 80, codes.STAKE_WITHDRAW,
                   unbond_transfer_id=UNBOND.id)  # fmt: skip
    assert (
        unbonding_entries_within_balance([UNBOND, named, post, withdrawn], [unbonding(100, 100)])
        == []
    )


def test_an_overturned_penalty_refunded_elsewhere_is_a_breach() -> None:
    hold = tr(2, "slash:x:unbonding:1", TransferKind.PENDING, UNBONDING, ESCROW, 20,
              codes.SLASH_HOLD, penalty_id="x", unbond_transfer_id=UNBOND.id)  # fmt: skip
    post = tr(3, "slash:x:unbonding:1:post", TransferKind.POST_PENDING, UNBONDING, ESCROW, 20,
              codes.SLASH_EXECUTE, ref_id=hold.id, penalty_id="x")  # fmt: skip
    wrong = tr(4, "refund:x:unbonding:1", P, INSURANCE, BONDED, 20, codes.SLASH_REFUND,
               penalty_id="x")  # fmt: skip
    (b,) = overturned_penalties_restored([hold, post, wrong])
    assert b.invariant == "overturned_penalties_restored" and "taken from" in b.detail
    right = tr(4, "refund:x:unbonding:1", P, INSURANCE, UNBONDING, 20, codes.SLASH_REFUND,
               penalty_id="x", unbond_transfer_id=UNBOND.id)  # fmt: skip
    assert overturned_penalties_restored([hold, post, right]) == []
    short = right._replace(amount=19)
    assert overturned_penalties_restored([hold, post, short])[0].detail == "refunded 19 of 20"
    # Not overturned at all: nothing to check.
    assert overturned_penalties_restored([hold, post]) == []
