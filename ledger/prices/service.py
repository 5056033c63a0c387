"""Price facts: record them (idempotent), and read the feed as an epoch sees it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection

from ledger.kit.errors import Conflict, InvalidInput
from ledger.params.domain import ParameterSet
from ledger.prices.domain import FeedReading, PriceFact, check_price, read_feed
from ledger.prices.repository import PricesRepository


def record_price(
    conn: Connection,
    *,
    kind: str,
    price_micro_usd: int,
    observed_at: dt.datetime,
    source: str,
    now: dt.datetime,
) -> tuple[PriceFact, bool]:
    """Store one price observation. The same (kind, source, observed_at) with the same price is
    a retry (returns the stored fact); with another price it is a conflict."""
    price_kind = check_price(kind, price_micro_usd, source)
    if observed_at.tzinfo is None:
        raise InvalidInput("must carry a time zone (UTC)", code="naive_time", field="observed_at")
    if observed_at > now + dt.timedelta(seconds=60):
        raise InvalidInput("must not be in the future", code="price_in_future", field="observed_at")
    fact = PriceFact(price_kind, price_micro_usd, observed_at, source)
    stored, created = PricesRepository(conn).insert(fact)
    if stored.price_micro_usd != price_micro_usd:
        raise Conflict(
            f"{source} already posted {stored.price_micro_usd} for {kind} at "
            f"{observed_at.isoformat()}",
            code="exists_with_different_price", field="price_micro_usd",
        )  # fmt: skip
    return stored, created


def feed_as_of(conn: Connection, as_of: dt.datetime, params: ParameterSet) -> FeedReading:
    """The prices an epoch ending at ``as_of`` uses, with each kind's status."""
    return read_feed(PricesRepository(conn).latest_as_of(as_of), as_of, params)
