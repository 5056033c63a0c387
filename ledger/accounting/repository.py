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

from psycopg import errors, generators, pq
from sqlalchemy import Connection

from ledger.accounting.domain.hashchain import canonical_metadata, canonical_row, chain_hash
from ledger.accounting.domain.transfers import (
    AccountState,
    BatchPlan,
    NormalBalance,
    RefState,
    Transfer,
    TransferKind,
    TransferStatus,
    transfer_status,
)

# copy_escape and copy_text moved to ledger.kit.db; re-exported for rewards' repository.
from ledger.kit.db import copy_escape as copy_escape
from ledger.kit.db import copy_text as copy_text
from ledger.kit.db import driver, int_array
from ledger.kit.limits import STREAM_PAGE

#: Batches above this many rows are written with COPY instead of one multi-row INSERT.
COPY_THRESHOLD = 64

TRANSFER_COLUMNS = (
    "seq, id, kind, debit_account_id, credit_account_id, asset, amount, code, epoch, ref_id, "
    "timeout_s, metadata, created_at, prev_hash, hash"
)
EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

LOCK_HEAD_SQL = "SELECT last_seq, last_hash FROM ledger_head WHERE id = 1 FOR UPDATE"
EXISTING_SQL = f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ANY(%s::text[])"
REF_STATES_SQL = (
    f"SELECT {', '.join('t.' + c.strip() for c in TRANSFER_COLUMNS.split(','))}, "
    "(SELECT r.kind FROM transfers r WHERE r.ref_id = t.id "
    " AND r.kind IN ('post_pending', 'void_pending')), "
    "EXISTS (SELECT 1 FROM transfers r WHERE r.ref_id = t.id AND r.kind = 'reversal') "
    "FROM transfers t WHERE t.id = ANY(%s::text[])"
)
ACCOUNT_STATE_SQL = (
    "SELECT a.id, a.asset, a.normal_balance, a.may_go_negative, b.debits_pending::text, "
    "b.debits_posted::text, b.credits_pending::text, b.credits_posted::text "
    "FROM balances b JOIN accounts a ON a.id = b.account_id "
    "WHERE b.account_id = ANY(%s::bigint[])"
)


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
    normal_balance: NormalBalance
    may_go_negative: bool
    created_at: dt.datetime
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int


BALANCE_COLUMNS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
ALL_CHANGED = (True, True, True, True)
#: Rows per COPY chunk: large enough to amortize the call, small enough to overlap with
#: the server's ingest of the previous chunk.
COPY_CHUNK_ROWS = 2_000
#: NULL in COPY's text format.
NULL = "\\N"


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
        # Counters as read, so that writes send only the columns a batch changed.
        self._originals: dict[int, tuple[int, int, int, int]] = {}

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

    def accounts_by_owner_kind(self, owners: Sequence[str], kind: str) -> dict[str, int]:
        """owner -> account id of one kind (SWARM), for many owners in one query."""
        rows = self.pg.execute(
            "SELECT owner, id FROM accounts WHERE kind = %s AND asset = 'SWARM' "
            "AND owner = ANY(%s::text[])",
            (kind, list(owners)),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def accounts_of(
        self, owners: Sequence[str], kinds: Sequence[str], asset: str = "SWARM"
    ) -> dict[str, dict[str, AccountRow]]:
        """owner -> kind -> account with its balances, for many owners in one query."""
        out: dict[str, dict[str, AccountRow]] = {}
        for row in self._accounts(
            "a.owner = ANY(%s::text[]) AND a.kind = ANY(%s::text[]) AND a.asset = %s",
            (list(owners), list(kinds), asset),
        ):
            out.setdefault(row.owner, {})[row.kind] = row
        return out

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
                normal_balance=NormalBalance(r[4]),
                may_go_negative=r[5],
                created_at=r[6],
                debits_pending=int(r[7]),
                debits_posted=int(r[8]),
                credits_pending=int(r[9]),
                credits_posted=int(r[10]),
            )
            for r in cur.fetchall()
        ]

    def read_accounts(self, ids: Iterable[int]) -> dict[int, AccountState]:
        """State of the accounts ``ids``. Call only while holding the chain-head lock.

        No row locks are taken: every balance write happens under the chain-head lock, so once
        we hold it nobody else can change a balance until we commit.
        """
        id_list = sorted(set(ids))
        if not id_list:
            return {}
        return self._account_states(
            self.pg.execute(ACCOUNT_STATE_SQL, (int_array(id_list),)).fetchall()
        )

    def _account_states(self, rows: list[Any]) -> dict[int, AccountState]:
        credit = NormalBalance.CREDIT
        debit = NormalBalance.DEBIT
        self._originals.update((r[0], (int(r[4]), int(r[5]), int(r[6]), int(r[7]))) for r in rows)
        return {
            r[0]: AccountState(
                r[0], r[1], credit if r[2] == "credit" else debit, r[3],
                int(r[4]), int(r[5]), int(r[6]), int(r[7]),
            )
            for r in rows
        }  # fmt: skip

    # --- transfers ------------------------------------------------------------------------

    def lock_and_load(
        self,
        ids: Sequence[str],
        ref_ids: Sequence[str],
        account_ids: Iterable[int],
        now: dt.datetime,
    ) -> tuple[
        tuple[int, bytes], dict[str, Transfer], dict[str, RefState], dict[int, AccountState]
    ]:
        """Take the chain-head lock and read what a batch needs, in one round trip.

        The statements are pipelined, but the server runs them in order and, in READ
        COMMITTED, each takes its snapshot when it starts: the reads start after the lock is
        granted, so they see everything the previous lock holder committed.
        """
        acct_list = sorted(set(account_ids))
        with self.pg.pipeline():
            c_head = self.pg.execute(LOCK_HEAD_SQL)
            c_ids = self.pg.execute(EXISTING_SQL, (list(ids),)) if ids else None
            c_refs = self.pg.execute(REF_STATES_SQL, (list(ref_ids),)) if ref_ids else None
            c_accts = (
                self.pg.execute(ACCOUNT_STATE_SQL, (int_array(acct_list),)) if acct_list else None
            )
        row = c_head.fetchone()
        head = (int(row[0]), bytes(row[1]))
        existing = {r[1]: row_to_transfer(r) for r in c_ids.fetchall()} if c_ids else {}
        refs = self._ref_states(c_refs.fetchall(), now) if c_refs else {}
        accounts = self._account_states(c_accts.fetchall()) if c_accts else {}
        return head, existing, refs, accounts

    def get_transfers(self, ids: Sequence[str]) -> dict[str, Transfer]:
        if not ids:
            return {}
        cur = self.pg.execute(EXISTING_SQL, (list(ids),))
        return {r[1]: row_to_transfer(r) for r in cur.fetchall()}

    def get_ref_states(self, ref_ids: Sequence[str], now: dt.datetime) -> dict[str, RefState]:
        """Referenced transfers with whether they are resolved, reversed or timed out."""
        if not ref_ids:
            return {}
        return self._ref_states(self.pg.execute(REF_STATES_SQL, (list(ref_ids),)).fetchall(), now)

    @staticmethod
    def _ref_states(rows: list[Any], now: dt.datetime) -> dict[str, RefState]:
        out: dict[str, RefState] = {}
        now_us = to_us(now)
        for r in rows:
            t = row_to_transfer(r)
            expired = (
                t.kind is TransferKind.PENDING
                and t.timeout_s is not None
                and t.created_at_us + t.timeout_s * 1_000_000 <= now_us
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
        if len(plan.new) > COPY_THRESHOLD:
            # Two cores, kept both busy: PostgreSQL ingests each COPY chunk while Python hashes
            # the next, then rewrites the balances while Python builds the result objects.
            hashes = self._stream_rows(plan, head, now)
            self._send_balances_async(plan)
            try:
                stored = self._stored(plan, head, hashes, now)
            finally:
                # Always drain the in-flight statement, or the connection can't even roll back.
                self._finish_async()
            # The chain is contiguous: the batch takes the next len(new) sequence numbers.
            assert stored[-1].seq == head[0] + len(plan.new), (stored[-1].seq, head[0])
            self._move_head(stored[-1].seq, stored[-1].hash)
            return stored
        seq, prev = head
        created_us = to_us(now)
        stored = []
        rows: list[tuple[Any, ...]] = []
        for rt in plan.new:
            seq += 1
            meta_json = canonical_metadata(rt.metadata) if rt.metadata else "{}"
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
        assert seq == head[0] + len(plan.new), (seq, head[0])
        # Few rows: one round trip for the inserts, the balances and the head.
        with self.pg.pipeline(), self.pg.cursor() as cur:
            cur.executemany(
                f"INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
                rows,
            )
            self._write_balances(plan)
            self._move_head(seq, prev)
        return stored

    def _move_head(self, seq: int, last_hash: bytes) -> None:
        self.pg.execute(
            "UPDATE ledger_head SET last_seq = %s, last_hash = %s WHERE id = 1", (seq, last_hash)
        )

    def _stream_rows(
        self, plan: BatchPlan, head: tuple[int, bytes], now: dt.datetime
    ) -> list[bytes]:
        """Chain the new rows and COPY them in chunks; returns their hashes in order."""
        seq, prev = head
        created_us = to_us(now)
        created_txt = now.isoformat()
        hashes: list[bytes] = []
        add_hash = hashes.append
        lines: list[str] = []
        line = lines.append
        with (
            self.pg.cursor() as cur,
            cur.copy(f"COPY transfers ({TRANSFER_COLUMNS}) FROM STDIN") as copy,
        ):
            for rt in plan.new:
                seq += 1
                meta = rt.metadata
                meta_json = canonical_metadata(meta) if meta else "{}"
                kind = rt.kind.value
                epoch, ref_id, timeout_s = rt.epoch, rt.ref_id, rt.timeout_s
                h = chain_hash(
                    prev,
                    canonical_row(
                        seq, rt.id, kind, rt.debit_account_id, rt.credit_account_id, rt.asset,
                        rt.amount, rt.code, epoch, ref_id, timeout_s, meta_json, created_us,
                    ),
                )  # fmt: skip
                line(
                    f"{seq}\t{rt.id}\t{kind}\t{rt.debit_account_id}\t{rt.credit_account_id}\t"
                    f"{rt.asset}\t{rt.amount}\t{rt.code}\t"
                    f"{NULL if epoch is None else epoch}\t{NULL if ref_id is None else ref_id}\t"
                    f"{NULL if timeout_s is None else timeout_s}\t"
                    f"{copy_escape(meta_json) if meta else meta_json}\t{created_txt}\t"
                    f"\\\\x{prev.hex()}\t\\\\x{h.hex()}\n"
                )
                add_hash(h)
                prev = h
                if len(lines) >= COPY_CHUNK_ROWS:
                    copy.write("".join(lines))
                    lines.clear()
            if lines:
                copy.write("".join(lines))
        return hashes

    def _stored(
        self, plan: BatchPlan, head: tuple[int, bytes], hashes: list[bytes], now: dt.datetime
    ) -> list[Transfer]:
        seq, prev = head
        created_us = to_us(now)
        out = []
        for rt, h in zip(plan.new, hashes, strict=True):
            seq += 1
            out.append(
                Transfer(
                    seq, rt.id, rt.kind, rt.debit_account_id, rt.credit_account_id, rt.asset,
                    rt.amount, rt.code, rt.epoch, rt.ref_id, rt.timeout_s, rt.metadata,
                    created_us, prev, h,
                )
            )  # fmt: skip
            prev = h
        return out

    def _send_balances_async(self, plan: BatchPlan) -> None:
        """Send the balance UPDATEs and return at once; ``_finish_async`` collects the result.

        The statement text carries the values as array literals built from Python ints (no
        user text), so the simple query protocol is safe here.
        """
        statements = [
            f"UPDATE balances b SET {', '.join(f'{c} = v.{c}' for c in cols)} "
            f"FROM unnest('{int_array(ids)}'::bigint[], "
            + ", ".join(f"'{arr}'::numeric[]" for arr in arrays)
            + f") AS v(id, {', '.join(cols)}) WHERE b.account_id = v.id"
            for cols, ids, arrays in self._balance_groups(plan)
        ]
        pgconn = self.pg.pgconn
        pgconn.send_query("; ".join(statements).encode())
        self.pg.wait(generators.send(pgconn))

    def _finish_async(self) -> None:
        for res in self.pg.wait(generators.fetch_many(self.pg.pgconn)):
            if res.status == pq.ExecStatus.FATAL_ERROR:
                raise errors.error_from_result(res, encoding=self.pg.info.encoding)

    def _balance_groups(self, plan: BatchPlan) -> list[tuple[list[str], list[int], list[str]]]:
        """Touched accounts grouped by which counters changed: (columns, ids, value arrays).

        An epoch close moves one counter on 100k accounts: only that one is sent.
        """
        groups: dict[tuple[bool, ...], list[AccountState]] = {}
        orig = self._originals
        if len(plan.touched) <= COPY_THRESHOLD:
            orig = {}  # few rows: one statement writing all four counters beats several
        for aid in sorted(plan.touched):
            a = plan.accounts[aid]
            o = orig.get(aid)
            now_ = (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
            key = tuple(x != y for x, y in zip(now_, o, strict=True)) if o else ALL_CHANGED
            if any(key):
                groups.setdefault(key, []).append(a)
        out = []
        for key, accts in groups.items():
            cols = [c for c, changed in zip(BALANCE_COLUMNS, key, strict=True) if changed]
            out.append(
                (
                    cols,
                    [a.id for a in accts],
                    [int_array([getattr(a, c) for a in accts]) for c in cols],
                )
            )
        return out

    def _write_balances(self, plan: BatchPlan) -> None:
        """Write the new counters of every touched account."""
        for cols, ids, arrays in self._balance_groups(plan):
            self.pg.execute(
                f"UPDATE balances b SET {', '.join(f'{c} = v.{c}' for c in cols)} "
                f"FROM unnest(%s::bigint[], {', '.join(['%s::numeric[]'] * len(cols))}) "
                f"AS v(id, {', '.join(cols)}) WHERE b.account_id = v.id",
                (int_array(ids), *arrays),
            )

    # --- reads ----------------------------------------------------------------------------

    def account_transfers(
        self, account_id: int, *, after_seq: int, limit: int
    ) -> list[tuple[Transfer, TransferStatus]]:
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
