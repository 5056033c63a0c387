"""Ledger use cases: open accounts, append linked batches of transfers, expire pending ones.

Services run inside the caller's transaction and never commit. Time is an argument.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg.errors import UniqueViolation
from sqlalchemy import Connection

from ledger.accounting.domain import codes
from ledger.accounting.domain.accounts import AccountKind
from ledger.accounting.domain.invariants import (
    STAKE_LIFECYCLE_CODES,
    Breach,
    check_all,
    overturned_penalties_restored,
    replay_transfers,
    unbonding_entries_within_balance,
)
from ledger.accounting.domain.transfers import (
    REFERENCING_KINDS,
    AccountState,
    NormalBalance,
    Transfer,
    TransferKind,
    TransferRequest,
    TransferStatus,
    plan_batch,
    validate_request,
)
from ledger.accounting.repository import AccountRow, LedgerRepository
from ledger.kit.db import driver
from ledger.kit.errors import Conflict, Malformed, NotFound
from ledger.kit.limits import EXPIRY_SWEEP_LIMIT, OPTIMISTIC_BATCH


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a linked batch did: transfers appended now, and retried ones found stored."""

    created: list[Transfer]
    existing: list[Transfer]

    @property
    def transfers(self) -> list[Transfer]:
        by_id = {t.id: t for t in self.created + self.existing}
        return sorted(by_id.values(), key=lambda t: t.seq)


def open_account(
    conn: Connection,
    *,
    owner: str,
    kind: str,
    asset: str = "SWARM",
    normal_balance: NormalBalance = NormalBalance.CREDIT,
    may_go_negative: bool = False,
) -> AccountRow:
    """Open an account, or return the existing one with the same owner, kind and asset.

    Idempotent on (owner, kind, asset); asking again with other flags is a conflict.
    """
    for fld, value in (("owner", owner), ("kind", kind)):
        if not value or len(value) > 200:
            raise Malformed(f"{fld}: must be 1..200 characters", field=fld)
    repo = LedgerRepository(conn)
    account_id, created = repo.insert_account(
        owner, kind, asset, normal_balance.value, may_go_negative
    )
    row = repo.get_account(account_id)
    assert row is not None
    if not created and (row.normal_balance, row.may_go_negative) != (
        normal_balance.value,
        may_go_negative,
    ):
        raise Conflict(
            f"account {owner}/{kind}/{asset} exists with other flags",
            code="account_exists_with_different_flags",
            field="may_go_negative",
        )
    return row


def get_account(conn: Connection, account_id: int) -> AccountRow:
    row = LedgerRepository(conn).get_account(account_id)
    if row is None:
        raise NotFound(f"account {account_id} does not exist", code="account_not_found")
    return row


def list_accounts(
    conn: Connection, *, owner: str | None, after_id: int, limit: int
) -> list[AccountRow]:
    """Accounts with their balances by id, after ``after_id``; only ``owner``'s if given."""
    return LedgerRepository(conn).list_accounts(owner=owner, after_id=after_id, limit=limit)


def account_transfers(
    conn: Connection, account_id: int, *, after_seq: int, limit: int
) -> list[tuple[Transfer, TransferStatus]]:
    """Transfers debiting or crediting an existing account in chain order, with their status."""
    get_account(conn, account_id)
    return LedgerRepository(conn).account_transfers(account_id, after_seq=after_seq, limit=limit)


def create_transfers(
    conn: Connection, requests: Sequence[TransferRequest], *, now: dt.datetime
) -> BatchResult:
    """Append a linked batch: every new transfer commits with the caller's commit, or none.

    Retries are safe: a request whose id is already stored with the same fields is reported as
    existing and not applied again; the same id with different fields raises a 409 naming the
    first differing field (``exists_with_different_<field>``).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    # A refused transfer raises TransferError (a SwarmError: 422, or 409 for conflicts).
    for i, req in enumerate(requests):
        validate_request(req, i)
    repo = LedgerRepository(conn)
    if len(requests) > OPTIMISTIC_BATCH:
        with paused_gc():
            return _create_large(conn, repo, requests, now)
    return _plan_and_append(repo, requests, now, check_existing=True)


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic GC passes while a large batch allocates its 100k+ short-lived objects: they
    hold no cycles, and each full pass would walk all of them again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _create_large(
    conn: Connection, repo: LedgerRepository, requests: Sequence[TransferRequest], now: dt.datetime
) -> BatchResult:
    # Large batches are almost always new (an epoch close, a settlement): skip the lookup of
    # 100k ids and let the unique index find a retry. A hit rolls back to the savepoint and
    # the batch is planned again knowing what exists. Safe: we hold the chain-head lock.
    try:
        with driver(conn).transaction():
            return _plan_and_append(repo, requests, now, check_existing=False)
    except UniqueViolation:
        pass
    return _plan_and_append(repo, requests, now, check_existing=True)


def _plan_and_append(
    repo: LedgerRepository,
    requests: Sequence[TransferRequest],
    now: dt.datetime,
    *,
    check_existing: bool,
) -> BatchResult:
    ref_ids = {r.ref_id for r in requests if r.kind in REFERENCING_KINDS and r.ref_id}
    account_ids: set[int] = set()
    for r in requests:
        if r.debit_account_id is not None:
            account_ids.add(r.debit_account_id)
        if r.credit_account_id is not None:
            account_ids.add(r.credit_account_id)
    head, existing, refs, accounts = repo.lock_and_load(
        [r.id for r in requests] if check_existing else [],
        sorted(ref_ids),
        account_ids,
        now,
    )
    # Second round trip only when a retry or a reference names something not read yet.
    more_refs = {t.ref_id for t in existing.values() if t.ref_id and t.ref_id not in refs}
    if more_refs:
        refs.update(repo.get_ref_states(sorted(more_refs), now))
    more_accounts = {
        a
        for rs in refs.values()
        for a in (rs.transfer.debit_account_id, rs.transfer.credit_account_id)
        if a not in accounts
    }
    if more_accounts:
        accounts.update(repo.read_accounts(more_accounts))
    plan = plan_batch(requests, existing=existing, refs=refs, accounts=accounts)
    created = repo.append(plan, head, now)
    return BatchResult(created=created, existing=plan.existing)


def create_transfer(conn: Connection, request: TransferRequest, *, now: dt.datetime) -> Transfer:
    """One transfer (a batch of one)."""
    return create_transfers(conn, [request], now=now).transfers[0]


def expiry_id(pending_id: str) -> str:
    """Deterministic id of the void an expiry writes (hashed when the id would be too long:
    truncating could make two pending transfers share one void)."""
    candidate = f"expire:{pending_id}"
    if len(candidate) <= 128:
        return candidate
    hashed = "expire:sha256:" + hashlib.sha256(pending_id.encode()).hexdigest()
    assert len(hashed) <= 128
    return hashed


def expire_pending(conn: Connection, *, now: dt.datetime, limit: int = EXPIRY_SWEEP_LIMIT) -> int:
    """Void pending transfers whose timeout passed; returns how many were voided.

    Voids get the deterministic id ``expire:<pending id>``, so two sweepers never double-void.
    """
    repo = LedgerRepository(conn)
    ids = repo.expired_pending_ids(now, limit)
    if not ids:
        return 0
    reqs = [
        TransferRequest(
            id=expiry_id(pid),
            debit_account_id=None,
            credit_account_id=None,
            amount=None,
            code=codes.EXPIRED_PENDING,
            kind=TransferKind.VOID_PENDING,
            ref_id=pid,
            metadata={"reason": "timeout"},
        )
        for pid in ids
    ]
    return len(create_transfers(conn, reqs, now=now).created)


# System and provider accounts (SPEC section 7).

SYSTEM_OWNER = "system"

#: System accounts: kind -> (normal side, may go negative). Emission is where new SWARM comes
#: from, so it is the one account whose balance runs negative (it counts what was minted).
SYSTEM_ACCOUNTS: dict[AccountKind, tuple[NormalBalance, bool]] = {
    AccountKind.EMISSION: (NormalBalance.CREDIT, True),
    AccountKind.REWARD_POOL: (NormalBalance.CREDIT, False),
    AccountKind.TREASURY: (NormalBalance.CREDIT, False),
    AccountKind.INSURANCE_POOL: (NormalBalance.CREDIT, False),
    AccountKind.BURN: (NormalBalance.CREDIT, False),
    AccountKind.SLASH_ESCROW: (NormalBalance.CREDIT, False),
    AccountKind.ONCHAIN_CUSTODY: (NormalBalance.DEBIT, True),
}

#: Per-provider accounts, all credit-normal and never negative.
PROVIDER_ACCOUNT_KINDS = (
    AccountKind.REWARDS_ACCRUED,
    AccountKind.REWARDS_CLAIMABLE,
    AccountKind.REWARDS_CLAIMED,
    AccountKind.STAKE_BONDED,
    AccountKind.STAKE_UNBONDING,
)
assert not set(PROVIDER_ACCOUNT_KINDS) & set(SYSTEM_ACCOUNTS)
assert set(PROVIDER_ACCOUNT_KINDS) | set(SYSTEM_ACCOUNTS) == set(AccountKind)


def open_system_accounts(conn: Connection, asset: str = "SWARM") -> dict[str, int]:
    """Open every system account (idempotent); returns kind -> account id."""
    out: dict[str, int] = {}
    for kind, (side, negative) in SYSTEM_ACCOUNTS.items():
        row = open_account(
            conn, owner=SYSTEM_OWNER, kind=kind, asset=asset, normal_balance=side,
            may_go_negative=negative,
        )  # fmt: skip
        out[kind.value] = row.id
    return out


def open_provider_accounts(
    conn: Connection, provider_id: str, asset: str = "SWARM"
) -> dict[str, int]:
    """Open a provider's accounts (idempotent); returns kind -> account id."""
    if provider_id == SYSTEM_OWNER:
        raise ValueError("provider_id: 'system' is reserved")
    return {
        kind.value: open_account(conn, owner=provider_id, kind=kind, asset=asset).id
        for kind in PROVIDER_ACCOUNT_KINDS
    }


# Verification: replay the hash chain and check every invariant.


@dataclass(frozen=True)
class VerifyReport:
    transfers: int
    accounts: int
    head_seq: int
    breaches: list[Breach]

    @property
    def ok(self) -> bool:
        return not self.breaches


def verify_ledger(conn: Connection) -> VerifyReport:
    """Replay every transfer from genesis and check the chain, balances and limits.

    Run it in a REPEATABLE READ transaction so that the transfers and balances it compares are
    one snapshot.
    """
    repo = LedgerRepository(conn)
    rows = repo.all_balances()
    lifecycle: list[Transfer] = []

    def keep_lifecycle(stream: Iterable[Transfer]) -> Iterator[Transfer]:
        # The stake life cycle invariants need a few codes' transfers; keep only those.
        for t in stream:
            if t.code in STAKE_LIFECYCLE_CODES:
                lifecycle.append(t)
            yield t

    replay = replay_transfers(
        keep_lifecycle(repo.stream_transfers()), {r.id: r.asset for r in rows}
    )
    accounts = [
        AccountState(
            r.id, r.asset, r.normal_balance, r.may_go_negative,
            r.debits_pending, r.debits_posted, r.credits_pending, r.credits_posted,
        )
        for r in rows
    ]  # fmt: skip
    breaches = check_all(accounts, replay)
    breaches += unbonding_entries_within_balance(lifecycle, accounts)
    breaches += overturned_penalties_restored(lifecycle)
    head_seq, head_hash = repo.head()
    if not replay.breaches and (head_seq, head_hash) != (replay.last_seq, replay.last_hash):
        breaches.insert(
            0,
            Breach(
                "hash_chain_intact",
                f"ledger_head seq={head_seq}",
                f"head does not match the last transfer (seq {replay.last_seq}): rows removed?",
            ),
        )
    return VerifyReport(replay.count, len(accounts), head_seq, breaches)
