"""Hypothesis stateful test: random transfers, pending/post/void, reversals and retries against
the real PostgreSQL ledger, beside a deliberately simple in-memory model.

After every step the example's balances equal the model's; at the end of every example the
whole ledger passes `verify` (hash chain, balances = transfers, debits = credits, limits).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import Engine

from ledger.accounting.domain.transfers import NormalBalance, TransferKind, TransferRequest
from ledger.accounting.service import create_transfers, get_account, open_account, verify_ledger
from ledger.kit.db import transaction
from ledger.kit.errors import SwarmError
from tests.integration.helpers import NOW

pytestmark = pytest.mark.integration

MAX = 2**256 - 1
AMOUNTS = st.one_of(st.integers(1, 1_000), st.sampled_from([2**128, 2**255, 10**30]))


@dataclass
class ModelTransfer:
    kind: str
    debit: int
    credit: int
    amount: int
    code: int
    ref: str | None = None
    resolved: str | None = None  # for pendings: post_pending / void_pending
    reversed: bool = False


@dataclass
class Model:
    """Balances as four counters per account, and transfers by id. No cleverness on purpose."""

    counters: dict[int, list[int]] = field(default_factory=dict)  # dpe, dpo, cpe, cpo
    flags: dict[int, tuple[str, bool]] = field(default_factory=dict)
    transfers: dict[str, ModelTransfer] = field(default_factory=dict)

    def over_limit(self, c: dict[int, list[int]]) -> str | None:
        for aid, (dpe, dpo, cpe, cpo) in c.items():
            side, negative = self.flags[aid]
            if negative:
                continue
            if side == "credit" and dpe + dpo > cpo:
                return "exceeds_credits"
            if side == "debit" and cpe + cpo > dpo:
                return "exceeds_debits"
        return None

    def try_batch(self, steps: list[tuple[str, ModelTransfer]]) -> str | None:
        """Apply all or nothing; returns the error code or None."""
        c = {k: list(v) for k, v in self.counters.items()}
        new: dict[str, ModelTransfer] = {}
        for tid, t in steps:
            dr, cr = c[t.debit], c[t.credit]
            if t.kind in ("posted", "reversal"):
                dr[1] += t.amount
                cr[3] += t.amount
            elif t.kind == "pending":
                dr[0] += t.amount
                cr[2] += t.amount
            else:
                pending = self.transfers[t.ref or ""].amount
                dr[0] -= pending
                cr[2] -= pending
                if t.kind == "post_pending":
                    dr[1] += t.amount
                    cr[3] += t.amount
            err = self.over_limit(c)
            if err:
                return err
            # No counter may pass 2^256-1 (debit side first, posted before pending).
            for name, value in (
                ("debits_posted", dr[1]), ("debits_pending", dr[0]),
                ("credits_posted", cr[3]), ("credits_pending", cr[2]),
            ):  # fmt: skip
                if value > MAX:
                    return f"overflows_{name}"
            new[tid] = t
        self.counters = c
        for tid, t in new.items():
            self.transfers[tid] = t
            if t.kind in ("post_pending", "void_pending"):
                self.transfers[t.ref or ""].resolved = t.kind
            if t.kind == "reversal":
                self.transfers[t.ref or ""].reversed = True
        return None


class LedgerMachine(RuleBasedStateMachine):
    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.prefix = secrets.token_hex(4)
        self.n = 0
        self.accounts: list[int] = []

    @initialize()
    def open_accounts(self) -> None:
        specs = [
            ("emission", NormalBalance.CREDIT, True),
            ("a", NormalBalance.CREDIT, False),
            ("b", NormalBalance.CREDIT, False),
            ("c", NormalBalance.CREDIT, False),
            ("custody", NormalBalance.DEBIT, False),
        ]
        with transaction(self.engine) as conn:
            for kind, side, negative in specs:
                row = open_account(
                    conn, owner=f"sm-{self.prefix}", kind=kind, normal_balance=side,
                    may_go_negative=negative,
                )  # fmt: skip
                self.accounts.append(row.id)
                self.model.counters[row.id] = [0, 0, 0, 0]
                self.model.flags[row.id] = (side.value, negative)

    def new_id(self) -> str:
        self.n += 1
        return f"sm-{self.prefix}-{self.n}"

    def run(self, reqs: list[TransferRequest]) -> str | None:
        try:
            with transaction(self.engine) as conn:
                create_transfers(conn, reqs, now=NOW)
        except SwarmError as exc:
            return exc.code
        return None

    def pick_pair(self, data: st.DataObject) -> tuple[int, int]:
        d = data.draw(st.sampled_from(self.accounts))
        c = data.draw(st.sampled_from([a for a in self.accounts if a != d]))
        return d, c

    def check(self, reqs: list[TransferRequest], steps: list[tuple[str, ModelTransfer]]) -> None:
        expected = self.model.try_batch(steps)
        got = self.run(reqs)
        assert got == expected, f"ledger said {got}, model said {expected} for {reqs}"

    @rule(data=st.data(), amount=AMOUNTS, pending=st.booleans())
    def transfer(self, data: st.DataObject, amount: int, pending: bool) -> None:
        d, c = self.pick_pair(data)
        kind = TransferKind.PENDING if pending else TransferKind.POSTED
        tid = self.new_id()
        self.check(
            [TransferRequest(tid, d, c, amount, 1, kind)],
            [(tid, ModelTransfer(kind.value, d, c, amount, 1))],
        )

    @rule(data=st.data(), size=st.integers(2, 4))
    def linked_batch(self, data: st.DataObject, size: int) -> None:
        reqs, steps = [], []
        for _ in range(size):
            d, c = self.pick_pair(data)
            amount = data.draw(AMOUNTS)
            tid = self.new_id()
            reqs.append(TransferRequest(tid, d, c, amount, 2))
            steps.append((tid, ModelTransfer("posted", d, c, amount, 2)))
        self.check(reqs, steps)

    def pendings(self) -> list[str]:
        return sorted(k for k, t in self.model.transfers.items() if t.kind == "pending")

    @rule(data=st.data(), post=st.booleans(), fraction=st.integers(0, 4))
    def resolve(self, data: st.DataObject, post: bool, fraction: int) -> None:
        ids = self.pendings()
        if not ids:
            return
        ref = data.draw(st.sampled_from(ids))
        p = self.model.transfers[ref]
        tid = self.new_id()
        if not post:
            req = TransferRequest(tid, None, None, None, 3, TransferKind.VOID_PENDING, ref_id=ref)
            step = ModelTransfer("void_pending", p.debit, p.credit, p.amount, 3, ref)
        else:
            # fraction 0: omit (full); 1..3: a part; 4: too much
            amount = {0: None, 4: p.amount + 1}.get(fraction, max(1, p.amount * fraction // 4))
            req = TransferRequest(tid, None, None, amount, 3, TransferKind.POST_PENDING, ref_id=ref)
            step = ModelTransfer("post_pending", p.debit, p.credit, amount or p.amount, 3, ref)
        if p.resolved is not None:
            expected: str | None = {
                "post_pending": "pending_transfer_already_posted",
                "void_pending": "pending_transfer_already_voided",
            }[p.resolved]
        elif post and fraction == 4:
            expected = "exceeds_pending_transfer_amount"
        else:
            expected = self.model.try_batch([(tid, step)])
        assert self.run([req]) == expected

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        ids = sorted(
            k for k, t in self.model.transfers.items() if t.kind in ("posted", "post_pending")
        )
        if not ids:
            return
        ref = data.draw(st.sampled_from(ids))
        t = self.model.transfers[ref]
        tid = self.new_id()
        req = TransferRequest(tid, None, None, None, 4, TransferKind.REVERSAL, ref_id=ref)
        if t.reversed:
            assert self.run([req]) == "transfer_already_reversed"
            return
        self.check([req], [(tid, ModelTransfer("reversal", t.credit, t.debit, t.amount, 4, ref))])

    @rule(data=st.data(), change=st.booleans())
    def retry(self, data: st.DataObject, change: bool) -> None:
        ids = sorted(k for k, t in self.model.transfers.items() if t.kind in ("posted", "pending"))
        if not ids:
            return
        tid = data.draw(st.sampled_from(ids))
        t = self.model.transfers[tid]
        amount = t.amount + 1 if change else t.amount
        req = TransferRequest(tid, t.debit, t.credit, amount, t.code, TransferKind(t.kind))
        assert self.run([req]) == ("exists_with_different_amount" if change else None)

    @invariant()
    def balances_match_model(self) -> None:
        if not self.accounts:
            return
        with self.engine.connect() as conn:
            for aid in self.accounts:
                a = get_account(conn, aid)
                got = [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted]
                assert got == self.model.counters[aid], f"account {aid}"

    def teardown(self) -> None:
        with self.engine.connect() as conn:
            report = verify_ledger(conn)
        assert report.ok, report.breaches[:3]


def test_ledger_matches_model(shared_engine: Engine) -> None:
    LedgerMachine.engine = shared_engine
    LedgerMachine.TestCase.settings = settings(
        max_examples=30,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    LedgerMachine.TestCase().runTest()
