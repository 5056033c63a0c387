"""Independent verification of the ledger: the hash chain and every invariant."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from ledger.db.ledger_repo import LedgerRepository
from ledger.domain.invariants import Violation, check_all, replay_transfers
from ledger.domain.transfers import AccountState, NormalBalance


@dataclass(frozen=True)
class VerifyReport:
    transfers: int
    accounts: int
    head_seq: int
    violations: list[Violation]

    @property
    def ok(self) -> bool:
        return not self.violations


def verify_ledger(conn: Connection) -> VerifyReport:
    """Replay every transfer from genesis and check the chain, balances and limits.

    Run it in a REPEATABLE READ transaction so that the transfers and balances it compares are
    one snapshot.
    """
    repo = LedgerRepository(conn)
    rows = repo.all_balances()
    replay = replay_transfers(repo.stream_transfers(), {r.id: r.asset for r in rows})
    accounts = [
        AccountState(
            r.id, r.asset, NormalBalance(r.normal_balance), r.may_go_negative,
            r.debits_pending, r.debits_posted, r.credits_pending, r.credits_posted,
        )
        for r in rows
    ]  # fmt: skip
    violations = check_all(accounts, replay)
    head_seq, head_hash = repo.head()
    if not replay.violations and (head_seq, head_hash) != (replay.last_seq, replay.last_hash):
        violations.insert(
            0,
            Violation(
                "hash_chain_intact",
                f"ledger_head seq={head_seq}",
                f"head does not match the last transfer (seq {replay.last_seq}): rows removed?",
            ),
        )
    return VerifyReport(replay.count, len(accounts), head_seq, violations)
