"""Slashing API: what a provider is accused of and why, reports, appeals, votes, releases.

Writes are operator-only until governance authentication lands; governor votes name the
governor, and only the configured governors (SWARM_GOVERNORS) count toward the quorum.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from ledger.kit.db import transaction
from ledger.kit.http import SafeText, require_operator
from ledger.kit.limits import MAX_PAGE_SIZE
from ledger.slashing import appeals
from ledger.slashing import service as slashing
from ledger.slashing.repository import PenaltyRow

router = APIRouter(prefix="/v1", tags=["slashing"])

NodeId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
PenaltyId = Annotated[SafeText, Path(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ReportIn(Strict):
    kind: SafeText = Field(description="security_breach, malicious_activity or resource_hoarding")
    node_id: SafeText
    evidence: dict[SafeText, SafeText] = Field(min_length=1, max_length=32)
    severity: SafeText | None = Field(default=None, description="minor/major/critical (security)")
    severity_units: int = Field(default=0, ge=0, le=1000, description="resource hoarding")


class AppealIn(Strict):
    counter_evidence: dict[SafeText, SafeText] = Field(min_length=1, max_length=32)


class VoteIn(Strict):
    governor: SafeText = Field(min_length=1, max_length=64)
    vote: SafeText = Field(description="uphold or void")


class ReleaseIn(Strict):
    kind: SafeText = Field(description="review (governor-approved) or compliance (check passed)")
    reference: SafeText = Field(min_length=1, max_length=200, description="idempotency key")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PenaltyOut(BaseModel):
    """A slashing decision: the rule that applied, the evidence, the money (every field of the
    stored penalty; amounts as strings of base units)."""

    model_config = ConfigDict(extra="allow")
    id: str
    violation_id: str
    node_id: str
    provider_id: str
    kind: str
    status: str
    rule: str
    stake_at_risk_base_units: str
    slash_base_units: str
    from_rewards_base_units: str
    from_stake_base_units: str
    jail_until_s: int | None
    tombstone: bool
    appeal_deadline_s: int


class PenaltyPage(BaseModel):
    items: list[PenaltyOut]


class ViolationPage(BaseModel):
    items: list[dict[str, Any]] = Field(description="violations with their evidence")


class AppealOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    penalty_id: str
    counter_evidence: dict[str, Any] | None = None
    votes: dict[str, str] = Field(default_factory=dict, description="governor -> vote")
    status: str


class RefundOut(BaseModel):
    transfer_ids: list[str]


class ReleaseOut(BaseModel):
    release_id: int


def penalty_json(p: PenaltyRow) -> dict[str, Any]:
    """A penalty as a provider reads it: the rule that applied, the evidence, the money."""
    out = dataclasses.asdict(p)
    for k in ("stake_at_risk_base_units", "slash_base_units", "from_rewards_base_units",
              "from_stake_base_units"):  # fmt: skip
        out[k] = str(out[k])
    return out


@router.get("/nodes/{node_id}/penalties", response_model=PenaltyPage)
def node_penalties(request: Request, node_id: NodeId) -> dict[str, Any]:
    """Every violation decision about the node: rule, evidence, slash, jail, appeal deadline."""
    with request.app.state.runtime.engine.connect() as conn:
        return {"items": [penalty_json(p) for p in slashing.penalties_of_node(conn, node_id)]}


@router.get("/nodes/{node_id}/violations", response_model=ViolationPage)
def node_violations(request: Request, node_id: NodeId) -> dict[str, Any]:
    """Every violation found for the node, with its evidence; waived ones (network incidents)
    with the waiver's evidence."""
    with request.app.state.runtime.engine.connect() as conn:
        return {"items": slashing.violations_of_node(conn, node_id, MAX_PAGE_SIZE)}


@router.get("/penalties/{penalty_id}/appeal", response_model=AppealOut)
def read_appeal(request: Request, penalty_id: PenaltyId) -> dict[str, Any]:
    """The appeal of a penalty: counter-evidence, each governor's vote, the status."""
    with request.app.state.runtime.engine.connect() as conn:
        return appeals.appeal_state(conn, penalty_id)


@router.post(
    "/violations", status_code=201, dependencies=[Depends(require_operator)],
    response_model=PenaltyOut,
)  # fmt: skip
def report(request: Request, body: ReportIn) -> dict[str, Any]:
    """Report a violation with evidence; the same evidence never punishes twice."""
    rt = request.app.state.runtime
    with transaction(rt.engine) as conn:
        p = slashing.report_violation(
            conn, kind=body.kind, node_id=body.node_id, evidence=body.evidence,
            severity=body.severity, severity_units=body.severity_units, now=_now(),
            params=rt.params,
        )  # fmt: skip
    return penalty_json(p)


@router.post("/penalties/{penalty_id}/appeal", status_code=201, response_model=AppealOut,
             dependencies=[Depends(require_operator)])  # fmt: skip
def appeal(request: Request, penalty_id: PenaltyId, body: AppealIn) -> dict[str, Any]:
    """Appeal a pending slash with counter-evidence, before its deadline."""
    with transaction(request.app.state.runtime.engine) as conn:
        return appeals.file_appeal(
            conn, penalty_id=penalty_id, counter_evidence=body.counter_evidence, now=_now()
        )


@router.post(
    "/penalties/{penalty_id}/votes", dependencies=[Depends(require_operator)],
    response_model=AppealOut,
)  # fmt: skip
def vote(request: Request, penalty_id: PenaltyId, body: VoteIn) -> dict[str, Any]:
    """A governor's vote; at quorum a void restores every balance and lifts the jail."""
    rt = request.app.state.runtime
    governors = rt.settings.governor_set
    with transaction(rt.engine) as conn:
        return appeals.vote(
            conn, penalty_id=penalty_id, governor=body.governor, choice=body.vote,
            governors=governors, now=_now(), params=rt.params,
        )  # fmt: skip


@router.post("/penalties/{penalty_id}/refund", status_code=201, response_model=RefundOut,
             dependencies=[Depends(require_operator)])  # fmt: skip
def refund(request: Request, penalty_id: PenaltyId) -> dict[str, Any]:
    """Overturn an executed slash: refund it from the insurance pool (a governance decision;
    the governance issue will gate it behind a proposal)."""
    with transaction(request.app.state.runtime.engine) as conn:
        return {"transfer_ids": slashing.refund_executed(conn, penalty_id=penalty_id,
                                                         now=_now())}  # fmt: skip


@router.post("/nodes/{node_id}/releases", status_code=201, response_model=ReleaseOut,
             dependencies=[Depends(require_operator)])  # fmt: skip
def release(request: Request, node_id: NodeId, body: ReleaseIn) -> dict[str, int]:
    """An approved security review or a passed compliance check for a jailed node."""
    with transaction(request.app.state.runtime.engine) as conn:
        rid = slashing.release(
            conn, node_id=node_id, kind=body.kind, reference=body.reference, now=_now()
        )
    return {"release_id": rid}
