"""What a reversed penalty cost a node, and what was paid back (docs/slashing.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from ledger.epochs import restorations
from ledger.kit.http import SafeText

router = APIRouter(prefix="/v1", tags=["slashing"])

PenaltyId = Annotated[SafeText, Path(min_length=1, max_length=200)]


class RestorationOut(BaseModel):
    penalty_id: str
    epoch: int
    node_id: str
    provider_id: str
    paid_base_units: str = Field(description="what the closed epoch paid the node")
    fair_base_units: str = Field(
        description="what it would have paid with the node's fair standing (every reversed "
        "penalty of the node left out), recomputed from the epoch's stored inputs"
    )
    restored_base_units: str = Field(
        description="paid back now: fair - paid - what earlier restorations of the same node "
        "and epoch paid, never negative"
    )
    transfer_id: str | None = Field(
        description="restore:<penalty>:<epoch>, code 305, insurance_pool -> rewards_accrued; "
        "null when nothing was owed"
    )
    fair_standing: dict[str, Any] = Field(description="status, standing_ppm, restoration_step")
    receipt: dict[str, Any] | None = Field(
        description="the node's recomputed receipt (the fields of an epoch receipt); null if "
        "the node was not active in that epoch"
    )
    restored_at: dt.datetime


class RestorationPage(BaseModel):
    items: list[RestorationOut]


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        **{k: str(row[k]) for k in ("paid_base_units", "fair_base_units", "restored_base_units")},
    }


@router.get("/penalties/{penalty_id}/restorations", response_model=RestorationPage)
def penalty_restorations(request: Request, penalty_id: PenaltyId) -> dict[str, Any]:
    """The closed epochs a voided or overturned penalty was in effect for, each recomputed
    with the node's fair standing and the difference paid back (within a minute of the
    reversal, or of the epoch's close for an epoch that closed after it)."""
    with request.app.state.runtime.engine.connect() as conn:
        return {"items": [_json(r) for r in restorations.restorations_of(conn, penalty_id)]}
