"""All of settlement's SQL: the outbox read, the signed transactions and their status events."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ledger.kit.db import driver
from ledger.settlement.domain import Fees, TxStatus

#: "SWNC": one nonce allocator per signing key (keyed by the key's address).
NONCE_LOCK_NAMESPACE = 0x53574E43


@dataclass(frozen=True, slots=True)
class TxRow:
    id: int
    signer: str
    nonce: int
    topic: str
    items: list[int]
    tx_hash: str
    raw_tx: bytes
    gas_limit: int
    fees: Fees
    replaces: int | None
    created_at: dt.datetime
    status: TxStatus
    status_at: dt.datetime
    block_number: int | None
    block_hash: str | None


_TX_SELECT = (
    "SELECT t.id, t.signer, t.nonce, t.topic, t.items, t.tx_hash, t.raw_tx, t.gas_limit, "
    "t.max_fee_per_gas::text, t.max_priority_fee_per_gas::text, t.replaces, t.created_at, "
    "coalesce(e.status, 'signed') AS status, coalesce(e.at, t.created_at) AS status_at, "
    "e.block_number, e.block_hash "
    "FROM settlement_txs t LEFT JOIN LATERAL (SELECT status, at, block_number, block_hash "
    "FROM settlement_events WHERE tx_id = t.id ORDER BY id DESC LIMIT 1) e ON true "
)


def _tx(r: Any) -> TxRow:
    return TxRow(
        int(r[0]), r[1], int(r[2]), r[3], [int(i) for i in r[4]], r[5], bytes(r[6]), int(r[7]),
        Fees(int(r[8]), int(r[9])), None if r[10] is None else int(r[10]), r[11],
        TxStatus(r[12]), r[13], None if r[14] is None else int(r[14]), r[15],
    )  # fmt: skip


class SettlementRepository:
    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def lock_signer(self, signer: str) -> None:
        """Serialize everything that allocates or replaces a nonce of ``signer`` (two workers
        started for one key never use one nonce twice) until the end of the transaction."""
        self.pg.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (NONCE_LOCK_NAMESPACE, signer)
        )

    def unsettled_items(self, topic: str, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        """(id, key, payload) of outbox items of ``topic`` with no transaction that is final,
        included, in flight or reverted: never sent, or every carrier was replaced by another
        use of its nonce. Oldest first."""
        rows = self.pg.execute(
            "SELECT o.id, o.key, o.payload FROM outbox o WHERE o.topic = %s AND NOT EXISTS ("
            " SELECT 1 FROM settlement_txs t LEFT JOIN LATERAL (SELECT status FROM "
            " settlement_events WHERE tx_id = t.id ORDER BY id DESC LIMIT 1) e ON true "
            " WHERE o.id = ANY(t.items) AND coalesce(e.status, 'signed') <> 'replaced') "
            "ORDER BY o.id LIMIT %s",
            (topic, limit),
        ).fetchall()
        return [(int(r[0]), r[1], dict(r[2])) for r in rows]

    def next_nonce(self, signer: str) -> int:
        """One more than the highest nonce this ledger signed for ``signer`` (0 for none)."""
        row = self.pg.execute(
            "SELECT coalesce(max(nonce) + 1, 0) FROM settlement_txs WHERE signer = %s", (signer,)
        ).fetchone()
        assert row is not None
        return int(row[0])

    def insert_tx(
        self,
        *,
        signer: str,
        nonce: int,
        topic: str,
        items: list[int],
        tx_hash: str,
        raw_tx: bytes,
        gas_limit: int,
        fees: Fees,
        replaces: int | None,
        now: dt.datetime,
    ) -> int:
        row = self.pg.execute(
            "INSERT INTO settlement_txs (signer, nonce, topic, items, tx_hash, raw_tx, "
            "gas_limit, max_fee_per_gas, max_priority_fee_per_gas, replaces, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (signer, nonce, topic, items, tx_hash, raw_tx, gas_limit, fees.max_fee_per_gas,
             fees.max_priority_fee_per_gas, replaces, now),
        ).fetchone()  # fmt: skip
        assert row is not None
        return int(row[0])

    def add_event(
        self,
        tx_id: int,
        status: TxStatus,
        now: dt.datetime,
        *,
        block_number: int | None = None,
        block_hash: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.pg.execute(
            "INSERT INTO settlement_events (tx_id, status, block_number, block_hash, detail, at) "
            "VALUES (%s, %s, %s, %s, %s::jsonb, %s)",
            (tx_id, status, block_number, block_hash, json.dumps(detail or {}), now),
        )

    def open_txs(self) -> list[TxRow]:
        """Every transaction still watched (not final, replaced or failed), by signer and nonce."""
        rows = self.pg.execute(
            "SELECT * FROM (" + _TX_SELECT + ") x WHERE x.status NOT IN "
            "('final', 'replaced', 'failed') ORDER BY x.signer, x.nonce, x.id"
        ).fetchall()
        return [_tx(r) for r in rows]

    def txs_of_nonce(self, signer: str, nonce: int) -> list[TxRow]:
        rows = self.pg.execute(
            _TX_SELECT + "WHERE t.signer = %s AND t.nonce = %s ORDER BY t.id", (signer, nonce)
        ).fetchall()
        return [_tx(r) for r in rows]

    def get_tx(self, tx_id: int) -> TxRow | None:
        row = self.pg.execute(_TX_SELECT + "WHERE t.id = %s", (tx_id,)).fetchone()
        return _tx(row) if row else None

    def txs_of_item(self, item_id: int) -> list[TxRow]:
        rows = self.pg.execute(
            _TX_SELECT + "WHERE %s = ANY(t.items) ORDER BY t.id", (item_id,)
        ).fetchall()
        return [_tx(r) for r in rows]

    def events(self, tx_id: int) -> list[dict[str, Any]]:
        rows = self.pg.execute(
            "SELECT status, block_number, block_hash, detail, at FROM settlement_events "
            "WHERE tx_id = %s ORDER BY id",
            (tx_id,),
        ).fetchall()
        return [
            {"status": r[0], "block_number": r[1], "block_hash": r[2], "detail": r[3], "at": r[4]}
            for r in rows
        ]

    def items_of_topic(self, topic: str, after_id: int, limit: int) -> list[tuple[int, str]]:
        rows = self.pg.execute(
            "SELECT id, key FROM outbox WHERE topic = %s AND id > %s ORDER BY id LIMIT %s",
            (topic, after_id, limit),
        ).fetchall()
        return [(int(r[0]), r[1]) for r in rows]

    def events_after(self, after_id: int, statuses: tuple[str, ...], limit: int = 100
                     ) -> list[tuple[int, str, list[str], str, str, int | None]]:  # fmt: skip
        """(event id, topic, item keys, status, tx hash, block) of transactions' events after
        ``after_id`` with one of ``statuses``, oldest first (the demo's live lines)."""
        rows = self.pg.execute(
            "SELECT e.id, t.topic, ARRAY(SELECT o.key FROM outbox o WHERE o.id = ANY(t.items) "
            "ORDER BY o.id), e.status, t.tx_hash, e.block_number FROM settlement_events e "
            "JOIN settlement_txs t ON t.id = e.tx_id WHERE e.id > %s AND e.status = ANY(%s) "
            "ORDER BY e.id LIMIT %s",
            (after_id, list(statuses), limit),
        ).fetchall()
        return [(int(r[0]), r[1], list(r[2]), r[3], r[4], r[5]) for r in rows]

    # --- the chain watcher and the reconciler (watcher.py, reconcile.py) ---------------------

    def lock_watcher(self) -> None:
        """Serialize watchers (one indexes a range at a time) until the end of the transaction."""
        self.pg.execute("SELECT pg_advisory_xact_lock(%s, 0)", (0x53574357,))  # "SWCW"

    def indexed_to(self) -> int | None:
        """The last block indexed (None before the first range)."""
        row = self.pg.execute(
            "SELECT to_block FROM chain_cursor ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else int(row[0])

    def advance_cursor(
        self, from_block: int, to_block: int, to_block_hash: str, events: int, now: dt.datetime
    ) -> None:
        self.pg.execute(
            "INSERT INTO chain_cursor (from_block, to_block, to_block_hash, events, at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (from_block, to_block, to_block_hash, events, now),
        )

    def chain_event_known(self, tx_hash: str, log_index: int) -> bool:
        row = self.pg.execute(
            "SELECT 1 FROM chain_events WHERE tx_hash = %s AND log_index = %s",
            (tx_hash, log_index),
        ).fetchone()
        return row is not None

    def insert_chain_event(
        self,
        *,
        tx_hash: str,
        log_index: int,
        block_number: int,
        block_hash: str,
        block_time: dt.datetime,
        contract: str,
        event: str,
        args: dict[str, Any],
        mirror: str,
        transfer_id: str | None,
        reason: str | None,
        now: dt.datetime,
    ) -> bool:
        """Record one indexed event; False when it was recorded already (nothing written)."""
        row = self.pg.execute(
            "INSERT INTO chain_events (tx_hash, log_index, block_number, block_hash, "
            "block_time, contract, event, args, mirror, transfer_id, reason, indexed_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s) "
            "ON CONFLICT (tx_hash, log_index) DO NOTHING RETURNING id",
            (tx_hash, log_index, block_number, block_hash, block_time, contract, event,
             json.dumps(args, sort_keys=True), mirror, transfer_id, reason, now),
        ).fetchone()  # fmt: skip
        return row is not None

    def chain_events(self, event: str | None = None) -> list[dict[str, Any]]:
        """Indexed events (of one name, or all), in chain order."""
        where, params = ("WHERE event = %s ", (event,)) if event else ("", ())
        rows = self.pg.execute(
            "SELECT tx_hash, log_index, block_number, event, args, mirror, transfer_id, reason "
            "FROM chain_events " + where + "ORDER BY block_number, log_index",
            params,
        ).fetchall()
        keys = ("tx_hash", "log_index", "block_number", "event", "args", "mirror",
                "transfer_id", "reason")  # fmt: skip
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def provider_account(self, owner: str, kind: str) -> int | None:
        row = self.pg.execute(
            "SELECT id FROM accounts WHERE owner = %s AND kind = %s AND asset = 'SWARM'",
            (owner, kind),
        ).fetchone()
        return None if row is None else int(row[0])

    def balances_of_kind(self, kind: str) -> dict[str, tuple[int, int]]:
        """Per owner of an account of ``kind``: (credits posted, debits posted)."""
        rows = self.pg.execute(
            "SELECT a.owner, b.credits_posted::text, b.debits_posted::text FROM accounts a "
            "JOIN balances b ON b.account_id = a.id WHERE a.kind = %s AND a.asset = 'SWARM'",
            (kind,),
        ).fetchall()
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def receipt_totals(self) -> dict[str, int]:
        """Per provider: the sum of its reward receipts (what the calculator said it earned)."""
        rows = self.pg.execute(
            "SELECT provider_id, sum(amount_base_units)::text FROM reward_receipts "
            "GROUP BY provider_id"
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def reward_transfer_totals(self, code: int) -> dict[str, int]:
        """Per owner of the credited account: the sum of posted transfers of ``code``."""
        rows = self.pg.execute(
            "SELECT a.owner, sum(t.amount)::text FROM transfers t "
            "JOIN accounts a ON a.id = t.credit_account_id "
            "WHERE t.code = %s AND t.kind = 'posted' GROUP BY a.owner",
            (code,),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def ledger_root(self, epoch: int) -> bytes | None:
        row = self.pg.execute(
            "SELECT merkle_root FROM reward_epochs WHERE epoch = %s", (epoch,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def leaves_of(self, epoch: int) -> dict[str, int]:
        """The cumulative claimable leaf of every provider in ``epoch``'s root."""
        rows = self.pg.execute(
            "SELECT provider_id, cumulative_base_units::text FROM reward_leaves WHERE epoch = %s",
            (epoch,),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def outbox_slashes(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self.pg.execute(
            "SELECT key, payload FROM outbox WHERE topic = 'slash' ORDER BY id"
        ).fetchall()
        return [(r[0], dict(r[1])) for r in rows]

    def transfer_amount(self, transfer_id: str) -> int | None:
        row = self.pg.execute(
            "SELECT amount::text FROM transfers WHERE id = %s", (transfer_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def insert_reconciliation(
        self,
        *,
        now: dt.datetime,
        ok: bool,
        head_block: int | None,
        indexed_block: int | None,
        drifts: list[dict[str, Any]],
        notes: list[str],
    ) -> int:
        row = self.pg.execute(
            "INSERT INTO settlement_reconciliations (at, ok, head_block, indexed_block, drifts, "
            "notes) VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb) RETURNING id",
            (now, ok, head_block, indexed_block, json.dumps(drifts), json.dumps(notes)),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def latest_reconciliation(self) -> dict[str, Any] | None:
        row = self.pg.execute(
            "SELECT id, at, ok, head_block, indexed_block, drifts, notes "
            "FROM settlement_reconciliations ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        keys = ("id", "at", "ok", "head_block", "indexed_block", "drifts", "notes")
        return dict(zip(keys, row, strict=True))

    def halted(self) -> bool:
        """Settlement is halted while the latest reconciliation found a drift."""
        row = self.pg.execute(
            "SELECT ok FROM settlement_reconciliations ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return row is not None and not bool(row[0])
