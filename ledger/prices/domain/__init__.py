"""SWARM price facts and the rule that makes one usable by an epoch (SPEC 4.1). Pure.

Prices are integer micro-USD per SWARM. An epoch reads the latest *reference* and *current*
price observed at or before its end; a price observed more than ``pool.price_max_age_s`` before
the end is stale. Without both a fresh reference and a fresh current price the market factor is
the no-feed factor (1.0), and the epoch records why.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from ledger.kit.errors import InvalidInput
from ledger.params.domain import ParameterSet

#: Largest price accepted (micro-USD per SWARM): a trillion dollars is a broken feed.
MAX_PRICE_MICRO_USD = 10**18


class PriceKind(enum.StrEnum):
    REFERENCE = "reference"  # the price the emission was designed around
    CURRENT = "current"  # the market price now


class FeedStatus(enum.StrEnum):
    """Why an epoch did or did not use a price feed (recorded with the epoch)."""

    FRESH = "fresh"
    STALE = "stale"  # the latest price is older than price_max_age_s
    MISSING = "missing"  # no price of that kind at or before the epoch's end


@dataclass(frozen=True, slots=True)
class PriceFact:
    kind: PriceKind
    price_micro_usd: int
    observed_at: dt.datetime
    source: str


@dataclass(frozen=True, slots=True)
class FeedReading:
    """What an epoch takes from the feed: the prices it uses (None when unusable) and, per
    kind, the fact it looked at and its status."""

    reference_price: int | None
    current_price: int | None
    status: dict[str, FeedStatus]
    facts: dict[str, PriceFact | None]

    def to_json(self) -> dict[str, object]:
        return {
            str(kind.value if isinstance(kind, PriceKind) else kind): {
                "status": self.status[kind].value,
                "price_micro_usd": None if f is None else str(f.price_micro_usd),
                "observed_at": None if f is None else f.observed_at.isoformat(),
                "source": None if f is None else f.source,
            }
            for kind, f in sorted(self.facts.items())
        }


def check_price(kind: object, price: object, source: object) -> PriceKind:
    """Refuse a malformed price fact, naming the field."""
    if kind not in set(PriceKind):
        raise InvalidInput("one of reference, current", code="unknown_price_kind", field="kind")
    if type(price) is not int or not 0 < price <= MAX_PRICE_MICRO_USD:
        raise InvalidInput(
            f"an integer 1..{MAX_PRICE_MICRO_USD} (micro-USD per SWARM)",
            code="invalid_price", field="price_micro_usd",
        )  # fmt: skip
    if not isinstance(source, str) or not 0 < len(source) <= 64:
        raise InvalidInput("1..64 characters", code="invalid_source", field="source")
    return PriceKind(str(kind))


def read_feed(
    latest: dict[str, PriceFact | None], as_of: dt.datetime, params: ParameterSet
) -> FeedReading:
    """The prices an epoch ending at ``as_of`` uses, from the latest fact of each kind."""
    max_age = dt.timedelta(seconds=params.pool.price_max_age_s)
    status: dict[str, FeedStatus] = {}
    usable: dict[str, int | None] = {}
    for kind in PriceKind:
        fact = latest.get(kind)
        assert fact is None or fact.observed_at <= as_of, "a fact from after the epoch's end"
        if fact is None:
            status[kind], usable[kind] = FeedStatus.MISSING, None
        elif as_of - fact.observed_at > max_age:
            status[kind], usable[kind] = FeedStatus.STALE, None
        else:
            status[kind], usable[kind] = FeedStatus.FRESH, fact.price_micro_usd
    both = usable[PriceKind.REFERENCE] is not None and usable[PriceKind.CURRENT] is not None
    return FeedReading(
        reference_price=usable[PriceKind.REFERENCE] if both else None,
        current_price=usable[PriceKind.CURRENT] if both else None,
        status=status,
        facts={k: latest.get(k) for k in PriceKind},
    )
