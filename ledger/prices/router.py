"""Price routes: an operator (or, later, the chain watcher) posts SWARM prices; anyone reads
the latest."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ledger.kit.db import transaction
from ledger.kit.http import require_operator
from ledger.kit.limits import MAX_DATETIME_S
from ledger.prices import service

router = APIRouter(prefix="/v1", tags=["prices"])


class PriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    kind: str = Field(description="reference or current")
    price_micro_usd: int = Field(gt=0, le=10**18, description="micro-USD per SWARM, an integer")
    observed_at: int = Field(ge=0, le=MAX_DATETIME_S, description="Unix seconds of the observation")
    source: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9:._-]+$")


class PriceOut(BaseModel):
    kind: str
    price_micro_usd: str
    observed_at: str
    source: str
    created: bool


class FeedOut(BaseModel):
    as_of: str
    reference_price_micro_usd: str | None
    current_price_micro_usd: str | None
    feed: dict[str, dict[str, str | None]]


@router.post("/prices", status_code=201, dependencies=[Depends(require_operator)])
def post_price(request: Request, body: PriceIn) -> PriceOut:
    """Record one SWARM price observation (operator only; idempotent per kind, source, time)."""
    now = dt.datetime.now(dt.UTC)
    with transaction(request.app.state.runtime.engine) as conn:
        fact, created = service.record_price(
            conn, kind=body.kind, price_micro_usd=body.price_micro_usd,
            observed_at=dt.datetime.fromtimestamp(body.observed_at, dt.UTC),
            source=body.source, now=now,
        )  # fmt: skip
    return PriceOut(
        kind=fact.kind.value, price_micro_usd=str(fact.price_micro_usd),
        observed_at=fact.observed_at.isoformat(), source=fact.source, created=created,
    )  # fmt: skip


@router.get("/prices/latest")
def latest(
    request: Request, as_of: Annotated[int | None, Query(ge=0, le=MAX_DATETIME_S)] = None
) -> FeedOut:
    """The prices an epoch ending now (or at ``as_of``, Unix seconds) would use."""
    at = dt.datetime.now(dt.UTC) if as_of is None else dt.datetime.fromtimestamp(as_of, dt.UTC)
    rt = request.app.state.runtime
    with rt.engine.connect() as conn:
        reading = service.feed_as_of(conn, at, rt.params)
    return FeedOut(
        as_of=at.isoformat(),
        reference_price_micro_usd=None if reading.reference_price is None
        else str(reading.reference_price),
        current_price_micro_usd=None if reading.current_price is None
        else str(reading.current_price),
        feed=reading.to_json(),  # type: ignore[arg-type]
    )  # fmt: skip
