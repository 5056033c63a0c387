"""The transactional outbox: what must reach the chain, written in the decision's transaction.

The epoch close puts its root (topic ``root``, key the epoch) and a slash's execution puts the
slash (topic ``slash``, key the penalty id) in the same transaction as the ledger entries they
settle, so a decision is never committed without its settlement and never settled without its
decision. ``ledger.settlement`` reads the outbox and owns everything after (docs/settlement.md).
Rows are append-only; a second ``put`` of the same (topic, key) is a no-op.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ledger.kit.db import driver

TOPICS = ("root", "slash")


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    created_at: dt.datetime


def put(conn: Connection, topic: str, key: str, payload: dict[str, Any], now: dt.datetime) -> None:
    """Record that ``(topic, key)`` must be settled, with what the transaction needs."""
    if topic not in TOPICS:
        raise ValueError(f"topic: one of {TOPICS}")
    driver(conn).execute(
        "INSERT INTO outbox (topic, key, payload, created_at) VALUES (%s, %s, %s::jsonb, %s) "
        "ON CONFLICT (topic, key) DO NOTHING",
        (topic, key, json.dumps(payload, sort_keys=True), now),
    )


def _item(r: Any) -> OutboxItem:
    return OutboxItem(int(r[0]), r[1], r[2], dict(r[3]), r[4])


def items(conn: Connection, ids: list[int]) -> list[OutboxItem]:
    rows = (
        driver(conn)
        .execute(
            "SELECT id, topic, key, payload, created_at FROM outbox WHERE id = ANY(%s::bigint[]) "
            "ORDER BY id",
            (ids,),
        )
        .fetchall()
    )
    return [_item(r) for r in rows]


def find(conn: Connection, topic: str, key: str) -> OutboxItem | None:
    row = (
        driver(conn)
        .execute(
            "SELECT id, topic, key, payload, created_at FROM outbox WHERE topic = %s AND key = %s",
            (topic, key),
        )
        .fetchone()
    )
    return _item(row) if row else None
