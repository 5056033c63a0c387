"""Reward epochs and earnings: what a provider earned, why, and the proof to claim it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ledger.api.auth import require_operator
from ledger.db.engine import transaction
from ledger.db.rewards_repo import RewardsRepository
from ledger.domain.money import AmountError, format_swarm, parse_base_units
from ledger.errors import LedgerServiceError, NotFound
from ledger.services import staking

router = APIRouter(prefix="/v1", tags=["rewards"])

Address = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]
NodeId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
MAX_RECEIPTS = 200


@router.get("/epochs/{epoch}")
def read_epoch(request: Request, epoch: Annotated[int, Path(ge=0, le=2**62)]) -> dict[str, Any]:
    """A closed epoch: pool, scaling, root and provenance."""
    with request.app.state.runtime.engine.connect() as conn:
        e = RewardsRepository(conn).get_epoch(epoch)
    if e is None:
        raise NotFound(f"epoch {epoch} is not closed", code="epoch_not_closed")
    return {
        "epoch": e.epoch,
        "pool_base_units": str(e.pool_base_units),
        "pool_swarm": format_swarm(e.pool_base_units),
        "distributed_base_units": str(e.distributed_base_units),
        "undistributed_base_units": str(e.undistributed_base_units),
        "scale_ppm": e.scale_ppm,
        "nodes": e.node_count,
        "eligible_nodes": e.eligible_nodes,
        "params_version": e.params_version,
        "params_hash": e.params_hash,
        "calculator_version": e.calculator_version,
        "inputs_digest": e.inputs_digest,
        "merkle_root": "0x" + e.merkle_root.hex(),
        "provenance_digest": e.provenance_digest,
        "closed_at": e.closed_at,
    }


@router.get("/providers/{provider_id}/rewards")
def provider_rewards(request: Request, provider_id: Address) -> dict[str, Any]:
    """Cumulative earnings in the latest closed epoch's tree, with the merkle proof to claim."""
    pid = provider_id.lower()
    with request.app.state.runtime.engine.connect() as conn:
        leaf = RewardsRepository(conn).provider_leaf(pid)
    if leaf is None:
        raise NotFound(f"provider {pid} has no rewards yet", code="no_rewards")
    epoch, cumulative, index, proof = leaf
    return {
        "provider_id": pid,
        "epoch": epoch,
        "cumulative_base_units": str(cumulative),
        "cumulative_swarm": format_swarm(cumulative),
        "leaf_index": index,
        "proof": ["0x" + proof[i : i + 32].hex() for i in range(0, len(proof), 32)],
        "leaf_encoding": "keccak256(keccak256(abi.encode(address, uint256)))",
    }


@router.get("/nodes/{node_id}/receipts")
def node_receipts(
    request: Request,
    node_id: NodeId,
    limit: Annotated[int, Query(ge=1, le=MAX_RECEIPTS)] = 24,
) -> dict[str, Any]:
    """The node's reward receipts, newest first: every input, score and multiplier, the amount,
    and what perfect performance would have earned (ideal vs actual)."""
    with request.app.state.runtime.engine.connect() as conn:
        return {"items": RewardsRepository(conn).node_receipts(node_id, limit)}


class StakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    amount_base_units: str = Field(description="integer base units, as a string")
    bond_id: str = Field(description="idempotency key (the on-chain event id, later)")
    lock_tier: str = Field(default="flexible", description="flexible, 30d, 90d, 180d or 365d")


@router.post("/providers/{provider_id}/stake", status_code=201,
             dependencies=[Depends(require_operator)])  # fmt: skip
def bond(request: Request, provider_id: Address, body: StakeIn) -> dict[str, Any]:
    """Mirror bonded stake into the ledger (operator only, until the chain watcher lands)."""
    try:
        amount = parse_base_units(body.amount_base_units, "amount_base_units", allow_zero=False)
    except AmountError as exc:
        raise LedgerServiceError(str(exc), field="amount_base_units", code=exc.code,
                                 status_code=422) from exc  # fmt: skip
    with transaction(request.app.state.runtime.engine) as conn:
        t = staking.bond_stake(
            conn, provider_id=provider_id.lower(), amount_base_units=amount,
            bond_id=body.bond_id, now=dt.datetime.now(dt.UTC), lock_tier=body.lock_tier,
            params=request.app.state.runtime.params,
        )  # fmt: skip
    return {"transfer_id": t.id, "amount_base_units": str(t.amount),
            "locked_until_s": t.metadata["locked_until_s"]}  # fmt: skip


class UnbondIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    amount_base_units: str = Field(description="integer base units, as a string")
    request_id: str = Field(description="idempotency key of the request")


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    request_id: str


@router.post("/providers/{provider_id}/unbond", status_code=201,
             dependencies=[Depends(require_operator)])  # fmt: skip
def unbond(request: Request, provider_id: Address, body: UnbondIn) -> dict[str, Any]:
    """Request unstaking: the stake enters the unbonding queue (still slashable for earlier
    violations) and is withdrawable after the provider's unbonding period."""
    try:
        amount = parse_base_units(body.amount_base_units, "amount_base_units", allow_zero=False)
    except AmountError as exc:
        raise LedgerServiceError(str(exc), field="amount_base_units", code=exc.code,
                                 status_code=422) from exc  # fmt: skip
    rt = request.app.state.runtime
    with transaction(rt.engine) as conn:
        t = staking.request_unbond(
            conn, provider_id=provider_id.lower(), amount_base_units=amount,
            request_id=body.request_id, now=dt.datetime.now(dt.UTC), params=rt.params,
        )  # fmt: skip
    return {"transfer_id": t.id, "amount_base_units": str(t.amount),
            "withdrawable_at_s": t.metadata["withdrawable_at_s"]}  # fmt: skip


@router.post("/providers/{provider_id}/withdraw", status_code=201,
             dependencies=[Depends(require_operator)])  # fmt: skip
def withdraw(request: Request, provider_id: Address, body: WithdrawIn) -> dict[str, Any]:
    """Pay out an unbonding request once its period is over (refused while a slash holds it)."""
    with transaction(request.app.state.runtime.engine) as conn:
        t = staking.withdraw(conn, provider_id=provider_id.lower(), request_id=body.request_id,
                             now=dt.datetime.now(dt.UTC))  # fmt: skip
    return {"transfer_id": t.id, "amount_base_units": str(t.amount)}
