"""Reward epochs and earnings: what a provider earned, why, and the proof to claim it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from ledger.kit.errors import NotFound
from ledger.kit.http import SafeText
from ledger.kit.limits import MAX_INT64, MAX_RECEIPTS
from ledger.kit.money import format_swarm
from ledger.rewards import service as rewards_service
from ledger.rewards.keepers import node_is_registered
from ledger.rewards.repository import RewardsRepository

router = APIRouter(prefix="/v1", tags=["rewards"])

Address = Annotated[SafeText, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]
NodeId = Annotated[
    SafeText, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
#: Receipts per request, newest first (each carries every input of a node's epoch).
ReceiptLimit = Annotated[int, Query(ge=1, le=MAX_RECEIPTS)]


class EpochOut(BaseModel):
    epoch: int
    pool_base_units: str = Field(description="base units")
    pool_swarm: str
    distributed_base_units: str
    undistributed_base_units: str
    scale_ppm: int
    nodes: int
    eligible_nodes: int
    params_version: int
    params_hash: str
    calculator_version: str
    inputs_digest: str
    merkle_root: str
    provenance_digest: str
    closed_at: dt.datetime
    scale: dict[str, Any] = Field(
        description="every pool scale factor (demand, growth, market, target, clamped, previous, "
        "final), ppm"
    )
    network: dict[str, Any] = Field(
        description="the inputs of the factors: utilization_ppm, active_nodes, reference_price and "
        "current_price (micro-USD, null without a fresh feed), resource_demand_supply_ppm per "
        "class, and price_feed: per kind the price looked at and fresh / stale / missing"
    )


class MaturingOut(BaseModel):
    epoch: int
    amount_base_units: str
    matures_at: str = Field(description="ISO time of the close at which it becomes claimable")


class ProviderRewardsOut(BaseModel):
    provider_id: str
    epoch: int | None = Field(description="the latest root the provider has a leaf in")
    cumulative_base_units: str = Field(
        description="cumulative claimable base units committed by that root (claimable now)"
    )
    cumulative_swarm: str
    leaf_index: int | None
    proof: list[str] = Field(description="32-byte hex siblings, leaf to root (empty: no leaf)")
    leaf_encoding: str
    maturing: list[MaturingOut] = Field(
        description="later epochs' rewards, not claimable yet, oldest first"
    )


class ReceiptPage(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="receipts, newest first: inputs, scores, multipliers, ideal vs actual"
    )


@router.get("/epochs/{epoch}", response_model=EpochOut)
def read_epoch(request: Request, epoch: Annotated[int, Path(ge=0, le=MAX_INT64)]) -> EpochOut:
    """A closed epoch: pool, scaling, root and provenance."""
    with request.app.state.runtime.engine.connect() as conn:
        repo = RewardsRepository(conn)
        e = repo.get_epoch(epoch)
        conditions = repo.epoch_conditions(epoch)
    if e is None or conditions is None:
        raise NotFound(f"epoch {epoch} is not closed", code="epoch_not_closed")
    return EpochOut(
        epoch=e.epoch,
        pool_base_units=str(e.pool_base_units),
        pool_swarm=format_swarm(e.pool_base_units),
        distributed_base_units=str(e.distributed_base_units),
        undistributed_base_units=str(e.undistributed_base_units),
        scale_ppm=e.scale_ppm,
        nodes=e.node_count,
        eligible_nodes=e.eligible_nodes,
        params_version=e.params_version,
        params_hash=e.params_hash,
        calculator_version=e.calculator_version,
        inputs_digest=e.inputs_digest,
        merkle_root="0x" + e.merkle_root.hex(),
        provenance_digest=e.provenance_digest,
        closed_at=e.closed_at,
        scale=conditions[0],
        network=conditions[1],
    )


@router.get("/providers/{provider_id}/rewards", response_model=ProviderRewardsOut)
def provider_rewards(request: Request, provider_id: Address) -> ProviderRewardsOut:
    """The cumulative claimable amount in the latest root, with the merkle proof to claim it,
    and every later reward that has not matured yet with when it will (docs/rewards.md)."""
    pid = provider_id.lower()
    rt = request.app.state.runtime
    with rt.engine.connect() as conn:
        r = rewards_service.provider_rewards(conn, pid, rt.params)
    return ProviderRewardsOut(
        provider_id=pid,
        epoch=r.leaf_epoch,
        cumulative_base_units=str(r.claimable_base_units),
        cumulative_swarm=format_swarm(r.claimable_base_units),
        leaf_index=r.leaf_index,
        proof=["0x" + r.proof[i : i + 32].hex() for i in range(0, len(r.proof), 32)],
        leaf_encoding="keccak256(keccak256(abi.encode(address, uint256)))",
        maturing=[
            MaturingOut(
                epoch=m.epoch,
                amount_base_units=str(m.amount_base_units),
                matures_at=m.matures_at.isoformat(),
            )
            for m in r.maturing
        ],
    )


@router.get("/nodes/{node_id}/receipts", response_model=ReceiptPage)
def node_receipts(request: Request, node_id: NodeId, limit: ReceiptLimit = 24) -> ReceiptPage:
    """The node's reward receipts, newest first: every input, score and multiplier, the amount,
    and what perfect performance would have earned (ideal vs actual). At most MAX_RECEIPTS
    (200) a request. An unknown node is a 404 ``node_not_found``; a registered node that has
    not been paid yet has no items."""
    with request.app.state.runtime.engine.connect() as conn:
        if not node_is_registered(conn, node_id):
            raise NotFound(f"node {node_id} is not registered", code="node_not_found")
        items = rewards_service.node_receipts(
            conn, node_id, limit, request.app.state.runtime.params
        )
    return ReceiptPage(items=items)
