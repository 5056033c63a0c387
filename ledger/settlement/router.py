"""Settlement routes: the latest reconciliation, and how a root or a penalty was settled."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from ledger.kit.errors import NotFound
from ledger.kit.http import SafeText
from ledger.kit.limits import MAX_INT64
from ledger.settlement import service as settlement
from ledger.settlement.repository import SettlementRepository

router = APIRouter(prefix="/v1/settlement", tags=["settlement"])

PenaltyId = Annotated[SafeText, Path(min_length=1, max_length=128)]


class DriftOut(BaseModel):
    check: str = Field(description="vault_balance, bonded, root, claimed, accruals, ...")
    source: str = Field(description="the two sources compared")
    subject: str = Field(description="the provider, contract or epoch concerned")
    expected: str
    got: str


class ReconciliationOut(BaseModel):
    id: int | None = Field(description="the report's id (null: no reconciliation ran yet)")
    at: dt.datetime | None
    ok: bool = Field(description="no drift: settlement may proceed")
    halted: bool = Field(description="settlement sends nothing while the latest report drifts")
    head_block: int | None = Field(description="the block the contracts were read at")
    indexed_block: int | None = Field(description="the last final block the watcher indexed")
    drifts: list[DriftOut]
    notes: list[str]


class SettlementEventOut(BaseModel):
    status: str
    block_number: int | None
    block_hash: str | None
    detail: dict[str, Any]
    at: dt.datetime


class SettlementTxOut(BaseModel):
    tx_hash: str
    nonce: int
    signer: str
    status: str = Field(description="signed, submitted, send_failed, included, final, ...")
    block_number: int | None
    block_hash: str | None
    max_fee_per_gas: str = Field(description="wei, as a string")
    gas_limit: int
    replaces: int | None = Field(description="the transaction this one replaced (same nonce)")
    events: list[SettlementEventOut]


class ItemSettlementOut(BaseModel):
    topic: str
    key: str
    status: str = Field(description="queued, submitted, included, final or failed")
    final: bool = Field(description="final on chain (the finalized tag, or N confirmations)")
    block_number: int | None = Field(description="the block of the final or included tx")
    tx_hashes: list[str]
    payload: dict[str, Any]
    transactions: list[SettlementTxOut]


@router.get("/reconciliation", response_model=ReconciliationOut)
def reconciliation(request: Request) -> ReconciliationOut:
    """The latest reconciliation report: receipts, ledger and contracts compared (an empty
    report with ``ok`` true before the first run)."""
    with request.app.state.runtime.engine.connect() as conn:
        r = SettlementRepository(conn).latest_reconciliation()
    if r is None:
        return ReconciliationOut(
            id=None, at=None, ok=True, halted=False, head_block=None, indexed_block=None,
            drifts=[], notes=[],
        )  # fmt: skip
    return ReconciliationOut(
        id=r["id"], at=r["at"], ok=r["ok"], halted=not r["ok"], head_block=r["head_block"],
        indexed_block=r["indexed_block"], drifts=[DriftOut(**d) for d in r["drifts"]],
        notes=list(r["notes"]),
    )  # fmt: skip


def _item(request: Request, topic: str, key: str, what: str) -> ItemSettlementOut:
    with request.app.state.runtime.engine.connect() as conn:
        s = settlement.item_settlement(conn, topic, key)
    if s is None:
        raise NotFound(f"{what} has nothing to settle on chain", code="not_in_outbox")
    txs = [SettlementTxOut(**t) for t in s["transactions"]]
    landed = [t for t in txs if t.status in ("final", "included")]
    return ItemSettlementOut(
        topic=topic, key=key, status=s["status"], final=s["status"] == "final",
        block_number=landed[0].block_number if landed else None,
        tx_hashes=[t.tx_hash for t in txs], payload=s["payload"], transactions=txs,
    )  # fmt: skip


@router.get("/epochs/{epoch}", response_model=ItemSettlementOut)
def epoch_settlement(
    request: Request, epoch: Annotated[int, Path(ge=0, le=MAX_INT64)]
) -> ItemSettlementOut:
    """How the epoch's root was settled: status, transactions, block, finality (404
    ``not_in_outbox`` when the epoch has no root to post)."""
    return _item(request, "root", str(epoch), f"epoch {epoch}")


@router.get("/penalties/{penalty_id}", response_model=ItemSettlementOut)
def penalty_settlement(request: Request, penalty_id: PenaltyId) -> ItemSettlementOut:
    """How an executed penalty's slash was settled on chain (404 ``not_in_outbox`` when the
    penalty has no slash to send: not executed, or nothing taken from stake)."""
    return _item(request, "slash", penalty_id, f"penalty {penalty_id}")
