"""API shapes. Amounts are JSON strings of base units (no float can carry money)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from ledger.accounting.domain.transfers import NormalBalance, Transfer
from ledger.accounting.repository import AccountRow, from_us
from ledger.kit.money import format_swarm


class BalanceOut(BaseModel):
    debits_pending: str = Field(description="base units")
    debits_posted: str
    credits_pending: str
    credits_posted: str
    balance: str = Field(description="posted balance on the account's normal side, base units")
    available: str = Field(description="posted balance less pending outflows, base units")
    balance_swarm: str = Field(description="the same balance in SWARM, exact decimal")


class AccountOut(BaseModel):
    id: int
    owner: str
    kind: str
    asset: str
    normal_balance: str
    may_go_negative: bool
    created_at: dt.datetime
    balances: BalanceOut

    @classmethod
    def of(cls, a: AccountRow) -> AccountOut:
        if a.normal_balance == NormalBalance.CREDIT.value:
            bal = a.credits_posted - a.debits_posted
            avail = bal - a.debits_pending
        else:
            bal = a.debits_posted - a.credits_posted
            avail = bal - a.credits_pending
        return cls(
            id=a.id,
            owner=a.owner,
            kind=a.kind,
            asset=a.asset,
            normal_balance=a.normal_balance,
            may_go_negative=a.may_go_negative,
            created_at=a.created_at,
            balances=BalanceOut(
                debits_pending=str(a.debits_pending),
                debits_posted=str(a.debits_posted),
                credits_pending=str(a.credits_pending),
                credits_posted=str(a.credits_posted),
                balance=str(bal),
                available=str(avail),
                balance_swarm=format_swarm(bal),
            ),
        )


class TransferOut(BaseModel):
    seq: int
    id: str
    kind: str
    status: str = Field(description="pending, posted or voided (derived from later facts)")
    debit_account_id: int
    credit_account_id: int
    asset: str
    amount: str = Field(description="base units")
    code: int
    epoch: int | None
    ref_id: str | None
    timeout_s: int | None
    metadata: dict[str, Any]
    created_at: dt.datetime
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, t: Transfer, status: str) -> TransferOut:
        return cls(
            seq=t.seq,
            id=t.id,
            kind=t.kind.value,
            status=status,
            debit_account_id=t.debit_account_id,
            credit_account_id=t.credit_account_id,
            asset=t.asset,
            amount=str(t.amount),
            code=t.code,
            epoch=t.epoch,
            ref_id=t.ref_id,
            timeout_s=t.timeout_s,
            metadata=dict(t.metadata),
            created_at=from_us(t.created_at_us),
            prev_hash=t.prev_hash.hex(),
            hash=t.hash.hex(),
        )


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")
