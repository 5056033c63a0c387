"""Registry API: providers, nodes (versioned), maintenance windows."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ledger.kit.db import transaction
from ledger.kit.http import (
    EthAddress,
    NonNegInt64,
    SafeText,
    UnixTime,
    page_of,
    require_operator,
)
from ledger.kit.limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from ledger.registry import service as registry
from ledger.registry.domain import HardwareProfile
from ledger.registry.repository import NodeRow

router = APIRouter(prefix="/v1", tags=["registry"])

NodeId = Annotated[
    SafeText, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProviderIn(Strict):
    owner_address: EthAddress = Field(description="0x address of the provider's wallet")
    payout_address: EthAddress


class HardwareIn(Strict):
    gpus: NonNegInt64
    gpu_class: SafeText = Field(min_length=1, max_length=32)
    ram_gb: NonNegInt64
    storage_tb: NonNegInt64
    bandwidth_gbps: NonNegInt64
    fingerprint: SafeText = Field(description="hardware identity hash, lower-case hex")


class NodeIn(Strict):
    node_id: SafeText
    provider_id: EthAddress
    provider_type: SafeText
    region: SafeText
    hardware: HardwareIn
    node_address: EthAddress = Field(description="0x address of the key that signs heartbeats")


class NodeUpdateIn(Strict):
    provider_type: SafeText
    region: SafeText
    hardware: HardwareIn
    node_address: EthAddress


class MaintenanceIn(Strict):
    start_ts: UnixTime
    end_ts: UnixTime


class ProviderOut(BaseModel):
    provider_id: str


class MaintenanceOut(BaseModel):
    window_id: int


class NodeVersionOut(BaseModel):
    """One version of a node, as registered (history is append-only)."""

    node_id: str
    version: int
    provider_id: str
    provider_type: str
    region: str
    gpus: int
    gpu_class: str
    ram_gb: int
    storage_tb: int
    bandwidth_gbps: int
    fingerprint: str
    node_address: str
    capacity_units_ppm: int
    required_stake_base_units: str = Field(description="base units")
    status: str
    params_version: int
    created_at: dt.datetime


class NodeOut(BaseModel):
    node_id: str
    version: int
    provider_id: str
    provider_type: str
    region: str
    node_address: str
    fingerprint: str
    capacity_units_ppm: int
    status: str

    @classmethod
    def of(cls, n: NodeRow) -> NodeOut:
        return cls(
            node_id=n.node_id, version=n.version, provider_id=n.provider_id,
            provider_type=n.provider_type, region=n.region, node_address=n.node_address,
            fingerprint=n.fingerprint, capacity_units_ppm=n.capacity_units_ppm, status=n.status,
        )  # fmt: skip


class NodePage(BaseModel):
    items: list[NodeOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class NodeWithHistoryOut(BaseModel):
    node: NodeOut
    history: list[NodeVersionOut]


def _hw(h: HardwareIn) -> HardwareProfile:
    return HardwareProfile(
        h.gpus, h.gpu_class.lower(), h.ram_gb, h.storage_tb, h.bandwidth_gbps, h.fingerprint
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.post("/providers", status_code=201, response_model=ProviderOut,
             dependencies=[Depends(require_operator)])  # fmt: skip
def register_provider(request: Request, body: ProviderIn) -> ProviderOut:
    """Register a provider (idempotent) and open its ledger accounts."""
    with transaction(request.app.state.runtime.engine) as conn:
        pid = registry.register_provider(
            conn, owner_address=body.owner_address, payout_address=body.payout_address
        )
    return ProviderOut(provider_id=pid)


@router.post("/nodes", status_code=201, response_model=NodeOut,
             dependencies=[Depends(require_operator)])  # fmt: skip
def register_node(request: Request, body: NodeIn) -> NodeOut:
    """Register a node; a data_center with 2 GPUs is refused naming the floor it breaks."""
    rt = request.app.state.runtime
    with transaction(rt.engine) as conn:
        row = registry.register_node(
            conn, node_id=body.node_id, provider_id=body.provider_id.lower(),
            provider_type=body.provider_type, region=body.region, hardware=_hw(body.hardware),
            node_address=body.node_address, params=rt.params, now=_now(),
        )  # fmt: skip
    return NodeOut.of(row)


@router.put("/nodes/{node_id}", response_model=NodeOut, dependencies=[Depends(require_operator)])
def update_node(request: Request, node_id: NodeId, body: NodeUpdateIn) -> NodeOut:
    """A new version of the node (history is kept, never edited)."""
    rt = request.app.state.runtime
    with transaction(rt.engine) as conn:
        row = registry.update_node(
            conn, node_id=node_id, provider_type=body.provider_type, region=body.region,
            hardware=_hw(body.hardware), node_address=body.node_address, params=rt.params,
            now=_now(),
        )  # fmt: skip
    return NodeOut.of(row)


@router.delete("/nodes/{node_id}", response_model=NodeOut,
               dependencies=[Depends(require_operator)])  # fmt: skip
def deregister_node(request: Request, node_id: NodeId) -> NodeOut:
    """Deregister: its heartbeats are refused from now on."""
    rt = request.app.state.runtime
    with transaction(rt.engine) as conn:
        return NodeOut.of(
            registry.deregister_node(conn, node_id=node_id, params=rt.params, now=_now())
        )


@router.post("/nodes/{node_id}/maintenance", status_code=201, response_model=MaintenanceOut,
             dependencies=[Depends(require_operator)])  # fmt: skip
def declare_maintenance(request: Request, node_id: NodeId, body: MaintenanceIn) -> MaintenanceOut:
    """Declare planned downtime ahead of time, within the node's budget."""
    rt = request.app.state.runtime
    with transaction(rt.engine) as conn:
        wid = registry.declare_maintenance(
            conn, node_id=node_id, start_ts=body.start_ts, end_ts=body.end_ts, now=_now(),
            params=rt.params,
        )  # fmt: skip
    return MaintenanceOut(window_id=wid)


@router.get("/nodes", response_model=NodePage)
def list_nodes(
    request: Request,
    provider_id: Annotated[str | None, Query(max_length=42, pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    cursor: Annotated[SafeText | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
) -> NodePage:
    """Current version of each node, by node id."""
    # The cursor is the last node id of the previous page; none starts before every id.
    with request.app.state.runtime.engine.connect() as conn:
        rows = registry.list_nodes(
            conn,
            provider_id=provider_id.lower() if provider_id else None,
            after_node_id=cursor or "",
            limit=limit + 1,
        )
    items, next_cursor = page_of(rows, limit, lambda n: n.node_id)
    return NodePage(items=[NodeOut.of(r) for r in items], next_cursor=next_cursor)


@router.get("/nodes/{node_id}", response_model=NodeWithHistoryOut)
def read_node(request: Request, node_id: NodeId) -> NodeWithHistoryOut:
    """A node and every version of it."""
    with request.app.state.runtime.engine.connect() as conn:
        row, history = registry.node_with_history(conn, node_id)
    return NodeWithHistoryOut(
        node=NodeOut.of(row), history=[NodeVersionOut.model_validate(v) for v in history]
    )
