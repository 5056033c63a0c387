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
