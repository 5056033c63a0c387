"""SQL for the ledger. The only module that reads or writes accounts, balances and transfers.

Every append runs under the chain-head row lock, which serializes appends (the hash chain needs a
total order) and makes the existence check of idempotency keys race-free. Balances are locked in
account-id order so that concurrent appends never deadlock. Large batches are written with COPY.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ledger.db.engine import driver
from ledger.domain.chain import canonical_metadata, canonical_row, chain_hash
from ledger.domain.transfers import (
    AccountState,
    BatchPlan,
    NormalBalance,
    RefState,
    Transfer,
    TransferKind,
)

#: Batches above this many rows are written with COPY instead of one multi-row INSERT.
COPY_THRESHOLD = 64
#: Page size of streaming reads (verify, exports).
STREAM_PAGE = 10_000

TRANSFER_COLUMNS = (
    "seq, id, kind, debit_account_id, credit_account_id, asset, amount, code, epoch, ref_id, "
    "timeout_s, metadata, created_at, prev_hash, hash"
)
EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_us(ts: dt.datetime) -> int:
    """Microseconds since the Unix epoch: the exact form of created_at in the chain."""
    delta = ts - EPOCH_UTC
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> dt.datetime:
    return EPOCH_UTC + dt.timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    owner: str
    kind: str
    asset: str
    normal_balance: str
    may_go_negative: bool
    created_at: dt.datetime
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int


def row_to_transfer(r: Sequence[Any]) -> Transfer:
    return Transfer(
        seq=r[0],
        id=r[1],
        kind=TransferKind(r[2]),
        debit_account_id=r[3],
        credit_account_id=r[4],
        asset=r[5],
        amount=int(r[6]),
        code=r[7],
        epoch=r[8],
        ref_id=r[9],
        timeout_s=r[10],
        metadata=r[11],
        created_at_us=to_us(r[12]),
        prev_hash=bytes(r[13]),
        hash=bytes(r[14]),
    )


class LedgerRepository:
    """Reads and appends within the caller's transaction; never commits."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.pg = driver(conn)

    # --- accounts -------------------------------------------------------------------------

    def insert_account(
        self, owner: str, kind: str, asset: str, normal_balance: str, may_go_negative: bool
    ) -> tuple[int, bool]:
        """Create the account (and its zero balance) unless it exists; returns (id, created)."""
        cur = self.pg.execute(
            "INSERT INTO accounts (owner, kind, asset, normal_balance, may_go_negative) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (owner, kind, asset) DO NOTHING RETURNING id",
            (owner, kind, asset, normal_balance, may_go_negative),
        )
        row = cur.fetchone()
        if row is not None:
            self.pg.execute("INSERT INTO balances (account_id) VALUES (%s)", (row[0],))
            return int(row[0]), True
        found = self.find_account(owner, kind, asset)
        assert found is not None
        return found.id, False

    def find_account(self, owner: str, kind: str, asset: str) -> AccountRow | None:
        rows = self._accounts("a.owner = %s AND a.kind = %s AND a.asset = %s", (owner, kind, asset))
        return rows[0] if rows else None

    def get_account(self, account_id: int) -> AccountRow | None:
        rows = self._accounts("a.id = %s", (account_id,))
        return rows[0] if rows else None

    def list_accounts(self, *, owner: str | None, after_id: int, limit: int) -> list[AccountRow]:
        if owner is None:
            return self._accounts("a.id > %s ORDER BY a.id LIMIT %s", (after_id, limit))
        return self._accounts(
            "a.owner = %s AND a.id > %s ORDER BY a.id LIMIT %s", (owner, after_id, limit)
        )

    def _accounts(self, where: str, params: tuple[Any, ...]) -> list[AccountRow]:
        cur = self.pg.execute(
            "SELECT a.id, a.owner, a.kind, a.asset, a.normal_balance, a.may_go_negative, "
            "a.created_at, b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted "
            "FROM accounts a JOIN balances b ON b.account_id = a.id WHERE " + where,
            params,
        )
        return [
            AccountRow(
                id=r[0],
                owner=r[1],
                kind=r[2],
                asset=r[3],
                normal_balance=r[4],
                may_go_negative=r[5],
                created_at=r[6],
                debits_pending=int(r[7]),
                debits_posted=int(r[8]),
                credits_pending=int(r[9]),
                credits_posted=int(r[10]),
            )
            for r in cur.fetchall()
        ]

    def lock_accounts(self, ids: Iterable[int]) -> dict[int, AccountState]:
        """Lock the balances of ``ids`` in id order and return their state."""
        id_list = sorted(set(ids))
        cur = self.pg.execute(
            "SELECT a.id, a.asset, a.normal_balance, a.may_go_negative, b.debits_pending, "
            "b.debits_posted, b.credits_pending, b.credits_posted "
            "FROM balances b JOIN accounts a ON a.id = b.account_id "
            "WHERE b.account_id = ANY(%s) ORDER BY b.account_id FOR UPDATE OF b",
            (id_list,),
        )
        return {
            r[0]: AccountState(
                r[0], r[1], NormalBalance(r[2]), r[3], int(r[4]), int(r[5]), int(r[6]), int(r[7])
            )
            for r in cur.fetchall()
        }

    # --- transfers ------------------------------------------------------------------------

    def lock_head(self) -> tuple[int, bytes]:
        """Take the chain-head lock (serializes appends); returns (last seq, last hash)."""
        row = self.pg.execute(
            "SELECT last_seq, last_hash FROM ledger_head WHERE id = 1 FOR UPDATE"
        ).fetchone()
        return int(row[0]), bytes(row[1])

    def get_transfers(self, ids: Sequence[str]) -> dict[str, Transfer]:
        if not ids:
            return {}
        cur = self.pg.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ANY(%s)", (list(ids),)
        )
        return {r[1]: row_to_transfer(r) for r in cur.fetchall()}

    def get_ref_states(self, ref_ids: Sequence[str], now: dt.datetime) -> dict[str, RefState]:
        """Referenced transfers with whether they are resolved, reversed or timed out."""
        if not ref_ids:
            return {}
        cur = self.pg.execute(
            f"SELECT {', '.join('t.' + c.strip() for c in TRANSFER_COLUMNS.split(','))}, "
            "(SELECT r.kind FROM transfers r WHERE r.ref_id = t.id "
            " AND r.kind IN ('post_pending', 'void_pending')), "
            "EXISTS (SELECT 1 FROM transfers r WHERE r.ref_id = t.id AND r.kind = 'reversal') "
            "FROM transfers t WHERE t.id = ANY(%s)",
            (list(ref_ids),),
        )
        out: dict[str, RefState] = {}
        for r in cur.fetchall():
            t = row_to_transfer(r)
            expired = (
                t.kind is TransferKind.PENDING
                and t.timeout_s is not None
                and t.created_at_us + t.timeout_s * 1_000_000 <= to_us(now)
            )
            out[t.id] = RefState(
                transfer=t,
                resolved_by=TransferKind(r[15]) if r[15] else None,
                reversed=bool(r[16]),
                expired=expired,
            )
        return out

    def append(self, plan: BatchPlan, head: tuple[int, bytes], now: dt.datetime) -> list[Transfer]:
        """Write the plan's new transfers (chained) and balances; move the chain head."""
        if not plan.new:
            return []
        seq, prev = head
        created_us = to_us(now)
        stored: list[Transfer] = []
        rows: list[tuple[Any, ...]] = []
        for rt in plan.new:
            seq += 1
            meta_json = canonical_metadata(rt.metadata)
            h = chain_hash(
                prev,
                canonical_row(
                    seq, rt.id, rt.kind.value, rt.debit_account_id, rt.credit_account_id,
                    rt.asset, rt.amount, rt.code, rt.epoch, rt.ref_id, rt.timeout_s,
                    meta_json, created_us,
                ),
            )  # fmt: skip
            rows.append(
                (
                    seq, rt.id, rt.kind.value, rt.debit_account_id, rt.credit_account_id,
                    rt.asset, rt.amount, rt.code, rt.epoch, rt.ref_id, rt.timeout_s,
                    meta_json, now, prev, h,
                )
            )  # fmt: skip
            stored.append(
                Transfer(
                    seq, rt.id, rt.kind, rt.debit_account_id, rt.credit_account_id, rt.asset,
                    rt.amount, rt.code, rt.epoch, rt.ref_id, rt.timeout_s, rt.metadata,
                    created_us, prev, h,
                )
            )  # fmt: skip
            prev = h
        if len(rows) > COPY_THRESHOLD:
            self._copy_transfers(rows)
        else:
            with self.pg.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
                    rows,
                )
        self._write_balances(plan)
        self.pg.execute(
            "UPDATE ledger_head SET last_seq = %s, last_hash = %s WHERE id = 1", (seq, prev)
        )
        return stored

    def _copy_transfers(self, rows: list[tuple[Any, ...]]) -> None:
        with (
            self.pg.cursor() as cur,
            cur.copy(f"COPY transfers ({TRANSFER_COLUMNS}) FROM STDIN") as copy,
        ):
            for r in rows:
                copy.write_row(r)

    def _write_balances(self, plan: BatchPlan) -> None:
        accts = [plan.accounts[i] for i in sorted(plan.touched)]
        self.pg.execute(
            "UPDATE balances b SET debits_pending = v.dpe, debits_posted = v.dpo, "
            "credits_pending = v.cpe, credits_posted = v.cpo "
            "FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[], "
            "%s::numeric[]) AS v(id, dpe, dpo, cpe, cpo) WHERE b.account_id = v.id",
            (
                [a.id for a in accts],
                [a.debits_pending for a in accts],
                [a.debits_posted for a in accts],
                [a.credits_pending for a in accts],
                [a.credits_posted for a in accts],
            ),
        )

    # --- reads ----------------------------------------------------------------------------

    def account_transfers(
        self, account_id: int, *, after_seq: int, limit: int
    ) -> list[tuple[Transfer, str]]:
        """Transfers touching an account in chain order, with each one's derived status."""
        cur = self.pg.execute(
            f"SELECT {', '.join('t.' + c.strip() for c in TRANSFER_COLUMNS.split(','))}, "
            "(SELECT r.kind FROM transfers r WHERE r.ref_id = t.id "
            " AND r.kind IN ('post_pending', 'void_pending')) "
            "FROM transfers t WHERE t.seq IN ("
            " (SELECT seq FROM transfers WHERE debit_account_id = %(a)s AND seq > %(s)s "
            "  ORDER BY seq LIMIT %(n)s) UNION ALL "
            " (SELECT seq FROM transfers WHERE credit_account_id = %(a)s AND seq > %(s)s "
            "  ORDER BY seq LIMIT %(n)s)) ORDER BY t.seq LIMIT %(n)s",
            {"a": account_id, "s": after_seq, "n": limit},
        )
        out = []
        for r in cur.fetchall():
            t = row_to_transfer(r)
            out.append((t, transfer_status(t, r[15])))
        return out

    def stream_transfers(self) -> Iterator[Transfer]:
        """Every transfer in chain order, page by page (keyset pagination on seq)."""
        after = 0
        while True:
            rows = self.pg.execute(
                f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE seq > %s ORDER BY seq LIMIT %s",
                (after, STREAM_PAGE),
            ).fetchall()
            if not rows:
                return
            for r in rows:
                yield row_to_transfer(r)
            after = rows[-1][0]

    def all_balances(self) -> list[AccountRow]:
        return self._accounts("TRUE ORDER BY a.id", ())

    def head(self) -> tuple[int, bytes]:
        row = self.pg.execute("SELECT last_seq, last_hash FROM ledger_head WHERE id = 1").fetchone()
        return int(row[0]), bytes(row[1])

    def expired_pending_ids(self, now: dt.datetime, limit: int) -> list[str]:
        """Pending transfers past their timeout with no resolution yet, oldest first."""
        rows = self.pg.execute(
            "SELECT t.id FROM transfers t WHERE t.kind = 'pending' AND t.timeout_s IS NOT NULL "
            "AND t.created_at + make_interval(secs => t.timeout_s) <= %s "
            "AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.ref_id = t.id "
            " AND r.kind IN ('post_pending', 'void_pending')) ORDER BY t.seq LIMIT %s",
            (now, limit),
        ).fetchall()
        return [r[0] for r in rows]


def transfer_status(t: Transfer, resolution: str | None) -> str:
    """pending / posted / voided, derived from the append-only facts."""
    if t.kind is TransferKind.PENDING:
        if resolution == "post_pending":
            return "posted"
        if resolution == "void_pending":
            return "voided"
        return "pending"
    if t.kind is TransferKind.VOID_PENDING:
        return "voided"
    return "posted"
