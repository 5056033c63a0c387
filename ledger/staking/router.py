"""Stake routes: bond (mirrored from the chain), request unbonding, withdraw."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from ledger.kit.db import transaction
from ledger.kit.errors import Conflict, InvalidInput
from ledger.kit.http import SafeText, require_operator
from ledger.kit.money import AmountError, parse_base_units
from ledger.staking import service as staking

router = APIRouter(prefix="/v1", tags=["staking"])

Address = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]


class BondOut(BaseModel):
    transfer_id: str
    amount_base_units: str = Field(description="integer base units, as a string")
    locked_until_s: int = Field(description="Unix second the commitment lock ends")


class UnbondOut(BaseModel):
    transfer_id: str
    amount_base_units: str
    withdrawable_at_s: int = Field(description="Unix second from which it may be withdrawn")


class WithdrawOut(BaseModel):
    transfer_id: str
    amount_base_units: str


def _bond_out(t: Any) -> BondOut:
    return BondOut(transfer_id=t.id, amount_base_units=str(t.amount),
                   locked_until_s=int(t.metadata["locked_until_s"]))  # fmt: skip


def _unbond_out(t: Any) -> UnbondOut:
    return UnbondOut(transfer_id=t.id, amount_base_units=str(t.amount),
                     withdrawable_at_s=int(t.metadata["withdrawable_at_s"]))  # fmt: skip


class StakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    amount_base_units: SafeText = Field(description="integer base units, as a string")
    bond_id: SafeText = Field(description="idempotency key (the on-chain event id, later)")
    lock_tier: SafeText = Field(default="flexible", description="flexible, 30d, 90d, 180d or 365d")


@router.post("/providers/{provider_id}/stake", status_code=201,
             dependencies=[Depends(require_operator)])  # fmt: skip
def bond(request: Request, provider_id: Address, body: StakeIn) -> BondOut:
    """Mirror bonded stake into the ledger (operator only, chain-less mode). With a chain
    configured (``CHAIN_RPC_URL``) bonded stake comes from the vault through the chain
    watcher: 409 ``chain_mode``."""
    if request.app.state.runtime.settings.chain_rpc_url:
        raise Conflict(
            "bonded stake comes from the chain's vault (the chain watcher mirrors it)",
            code="chain_mode",
        )
    try:
        amount = parse_base_units(body.amount_base_units, "amount_base_units", allow_zero=False)
    except AmountError as exc:
        raise InvalidInput(str(exc), field="amount_base_units", code=exc.code) from exc  # fmt: skip
    with transaction(request.app.state.runtime.engine) as conn:
        t = staking.bond_stake(
            conn, provider_id=provider_id.lower(), amount_base_units=amount,
            bond_id=body.bond_id, now=dt.datetime.now(dt.UTC), lock_tier=body.lock_tier,
            params=request.app.state.runtime.params,
        )  # fmt: skip
    return _bond_out(t)


class UnbondIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    amount_base_units: SafeText = Field(description="integer base units, as a string")
    request_id: SafeText = Field(description="idempotency key of the request")


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    request_id: SafeText


@router.post("/providers/{provider_id}/unbond", status_code=201,
             dependencies=[Depends(require_operator)])  # fmt: skip
def unbond(request: Request, provider_id: Address, body: UnbondIn) -> UnbondOut:
    """Request unstaking: the stake enters the unbonding queue (still slashable for earlier
    violations) and is withdrawable after the provider's unbonding period."""
    try:
        amount = parse_base_units(body.amount_base_units, "amount_base_units", allow_zero=False)
    except AmountError as exc:
        raise InvalidInput(str(exc), field="amount_base_units", code=exc.code) from exc  # fmt: skip
    rt = request.app.state.runtime
    with transaction(rt.engine) as conn:
        t = staking.request_unbond(
            conn, provider_id=provider_id.lower(), amount_base_units=amount,
            request_id=body.request_id, now=dt.datetime.now(dt.UTC), params=rt.params,
        )  # fmt: skip
    return _unbond_out(t)


@router.post("/providers/{provider_id}/withdraw", status_code=201,
             dependencies=[Depends(require_operator)])  # fmt: skip
def withdraw(request: Request, provider_id: Address, body: WithdrawIn) -> WithdrawOut:
    """Pay out an unbonding request once its period is over (refused while a slash holds it)."""
    with transaction(request.app.state.runtime.engine) as conn:
        t = staking.withdraw(conn, provider_id=provider_id.lower(), request_id=body.request_id,
                             now=dt.datetime.now(dt.UTC))  # fmt: skip
    return WithdrawOut(transfer_id=t.id, amount_base_units=str(t.amount))


# --- platform users and network operators (SPEC 5; issue 15 point 10) -----------------------


class ParticipantStakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    stake_kind: SafeText = Field(description="platform_user (flexible) or network_operator (365 d)")
    amount_base_units: SafeText = Field(description="integer base units, as a string")
    bond_id: SafeText = Field(description="idempotency key (the on-chain event id, later)")


class ParticipantUnbondIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    stake_kind: SafeText
    amount_base_units: SafeText = Field(description="integer base units, as a string")
    request_id: SafeText = Field(description="idempotency key of the request")


class ParticipantWithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    stake_kind: SafeText
    request_id: SafeText


def _amount(text: str) -> int:
    try:
        return parse_base_units(text, "amount_base_units", allow_zero=False)
    except AmountError as exc:
        raise InvalidInput(str(exc), field="amount_base_units", code=exc.code) from exc


@router.post("/stakers/{address}/stake", status_code=201,
             dependencies=[Depends(require_operator)])  # fmt: skip
def participant_bond(request: Request, address: Address, body: ParticipantStakeIn) -> BondOut:
    """Mirror a platform user's or network operator's bonded stake (own accounts, no provider
    rewards; operators locked at least 365 days)."""
    rt = request.app.state.runtime
    with transaction(rt.engine) as conn:
        t = staking.bond_participant_stake(
            conn, stake_kind=body.stake_kind, address=address.lower(),
            amount_base_units=_amount(body.amount_base_units), bond_id=body.bond_id,
            now=dt.datetime.now(dt.UTC), params=rt.params,
        )  # fmt: skip
    return _bond_out(t)


@router.post("/stakers/{address}/unbond", status_code=201,
             dependencies=[Depends(require_operator)])  # fmt: skip
def participant_unbond(request: Request, address: Address, body: ParticipantUnbondIn) -> UnbondOut:
    """Unbond a participant's stake once its lock allows it."""
    rt = request.app.state.runtime
    with transaction(rt.engine) as conn:
        t = staking.request_participant_unbond(
            conn, stake_kind=body.stake_kind, address=address.lower(),
            amount_base_units=_amount(body.amount_base_units), request_id=body.request_id,
            now=dt.datetime.now(dt.UTC), params=rt.params,
        )  # fmt: skip
    return _unbond_out(t)


@router.post("/stakers/{address}/withdraw", status_code=201,
             dependencies=[Depends(require_operator)])  # fmt: skip
def participant_withdraw(
    request: Request, address: Address, body: ParticipantWithdrawIn
) -> WithdrawOut:
    """Pay out what is left of a participant's unbonding request."""
    with transaction(request.app.state.runtime.engine) as conn:
        t = staking.withdraw_participant(
            conn, stake_kind=body.stake_kind, address=address.lower(),
            request_id=body.request_id, now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
    return WithdrawOut(transfer_id=t.id, amount_base_units=str(t.amount))
