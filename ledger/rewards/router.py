"""Reward epochs and earnings: what a provider earned, why, and the proof to claim it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from ledger.kit.errors import NotFound
from ledger.kit.limits import MAX_RECEIPTS
from ledger.kit.money import format_swarm
from ledger.rewards.repository import RewardsRepository

router = APIRouter(prefix="/v1", tags=["rewards"])

Address = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]
NodeId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


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
