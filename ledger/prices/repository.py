"""All of prices' SQL: append price facts, read the latest of each kind as of a time."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection

from ledger.kit.db import driver
from ledger.prices.domain import PriceFact, PriceKind


class PricesRepository:
    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def insert(self, fact: PriceFact) -> tuple[PriceFact, bool]:
        """Store a fact once per (kind, source, observed_at); returns the stored fact and
        whether this call stored it."""
        row = self.pg.execute(
            "INSERT INTO price_facts (kind, price_micro_usd, observed_at, source) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (kind, source, observed_at) DO NOTHING "
            "RETURNING id",
            (fact.kind.value, fact.price_micro_usd, fact.observed_at, fact.source),
        ).fetchone()
        if row is not None:
            return fact, True
        stored = self.pg.execute(
            "SELECT price_micro_usd FROM price_facts WHERE kind = %s AND source = %s "
            "AND observed_at = %s",
            (fact.kind.value, fact.source, fact.observed_at),
        ).fetchone()
        return PriceFact(fact.kind, int(stored[0]), fact.observed_at, fact.source), False

    def latest_as_of(self, as_of: dt.datetime) -> dict[str, PriceFact | None]:
        """The latest fact of each kind observed at or before ``as_of`` (ties: highest id)."""
        out: dict[str, PriceFact | None] = {}
        for kind in PriceKind:
            row = self.pg.execute(
                "SELECT price_micro_usd, observed_at, source FROM price_facts "
                "WHERE kind = %s AND observed_at <= %s ORDER BY observed_at DESC, id DESC LIMIT 1",
                (kind.value, as_of),
            ).fetchone()
            out[kind] = None if row is None else PriceFact(kind, int(row[0]), row[1], row[2])
        return out
