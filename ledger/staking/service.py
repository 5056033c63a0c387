"""Stake as the ledger mirrors it. Until the chain watcher lands, stake changes arrive through
this service (the watcher will call the same functions with the on-chain event as the id)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from ledger.accounting.domain import codes
from ledger.accounting.domain.accounts import AccountKind
from ledger.accounting.domain.transfers import Transfer, TransferRequest
from ledger.kit.errors import Conflict, InvalidInput, NotFound
from ledger.params.domain import DEFAULT_PARAMS, ParameterSet
from ledger.staking import domain as st
from ledger.staking import keepers
from ledger.staking.keepers import NodeAsOf
from ledger.staking.repository import StakingRepository

BOND_ID_RE = re.compile(r"^[A-Za-z0-9:._-]{1,100}$")


def bond_stake(
    conn: Connection,
    *,
    provider_id: str,
    amount_base_units: int,
    bond_id: str,
    now: dt.datetime,
    lock_tier: str = "flexible",
    params: ParameterSet | None = None,
) -> Transfer:
    """Credit a provider's bonded stake (from on-chain custody). Idempotent on ``bond_id``.

    ``lock_tier`` commits the stake for the tier's lock (30 / 90 / 180 / 365 days): it cannot
    be unbonded before, and while it covers the provider's required stake its nodes earn the
    tier's commitment multiplier.
    """
    try:
        tier = (params or DEFAULT_PARAMS).multipliers.commitment_tier(lock_tier)
    except KeyError as exc:
        raise InvalidInput(
            f"lock_tier: {exc.args[0]}", field="lock_tier", code="unknown_lock_tier"
        ) from exc
    if not BOND_ID_RE.match(bond_id):
        raise InvalidInput(
            "bond_id: 1-100 of [A-Za-z0-9:._-]", field="bond_id", code="invalid_bond_id"
        )
    custody = keepers.custody_account_id(conn)
    bonded = keepers.stake_account(conn, provider_id, AccountKind.STAKE_BONDED)
    if bonded is None:
        raise InvalidInput(
            f"provider_id: {provider_id} has no stake account (register the provider first)",
            field="provider_id",
            code="provider_not_found",
        )
    return keepers.create_transfer(
        conn,
        TransferRequest(
            f"bond:{bond_id}", custody, bonded.id, amount_base_units, codes.STAKE_BOND,
            metadata={"provider_id": provider_id, "lock_tier": tier.name,
                      "locked_until_s": int(now.timestamp()) + tier.lock_s},
        ),
        now=now,
    )  # fmt: skip


@dataclass(frozen=True)
class StakeCompliance:
    """Per provider, as of a time: the stake its active nodes require, what it had bonded,
    and since when it has been under stake (only providers under stake appear there)."""

    required: dict[str, int]
    bonded: dict[str, int]
    under_since: dict[str, int]


def stake_compliance(
    conn: Connection, nodes: Sequence[NodeAsOf], as_of: dt.datetime
) -> StakeCompliance:
    """Required against bonded stake per provider of ``nodes`` as of a time (SPEC 6 under-stake)."""
    repo = StakingRepository(conn)
    required: dict[str, int] = {}
    for n in nodes:
        required[n[1]] = required.get(n[1], 0) + n[5]
    bonded = repo.bonded_stake_as_of(as_of)
    short = sorted(p for p, need in required.items() if bonded.get(p, 0) < need)
    under = {}
    for provider, events in repo.stake_events(short, as_of).items():
        since = st.under_stake_since(events)
        if since is not None:
            under[provider] = since
    return StakeCompliance(required, bonded, under)


def commitment_tiers_as_of(
    conn: Connection, required: dict[str, int], as_of: dt.datetime, params: ParameterSet
) -> dict[str, str]:
    """Each provider's commitment tier as of a time (flexible when absent)."""
    locked = StakingRepository(conn).locked_bonds_as_of(as_of)
    return st.commitment_tiers(locked, required, params)


def unbonding_period_s(conn: Connection, provider_id: str, params: ParameterSet) -> int:
    """The provider's unbonding period, from the types of its active nodes."""
    types = StakingRepository(conn).active_node_types(provider_id)
    return st.provider_unbonding_period_s(types, params)


def request_unbond(
    conn: Connection,
    *,
    provider_id: str,
    amount_base_units: int,
    request_id: str,
    now: dt.datetime,
    params: ParameterSet,
) -> Transfer:
    """Move bonded stake into the unbonding queue; withdrawable after the unbonding period.

    Stake keeps backing violations committed before this request: slashing measures the stake
    at risk at the infraction, and the holds can take it from ``stake_unbonding``.
    """
    if not BOND_ID_RE.match(request_id):
        raise InvalidInput(
            "request_id: 1-100 of [A-Za-z0-9:._-]", field="request_id", code="invalid_request_id"
        )
    bonded = keepers.stake_account(conn, provider_id, AccountKind.STAKE_BONDED)
    unbonding = keepers.stake_account(conn, provider_id, AccountKind.STAKE_UNBONDING)
    if bonded is None or unbonding is None:
        raise InvalidInput(
            f"provider_id: {provider_id} has no stake accounts",
            field="provider_id",
            code="provider_not_found",
        )
    locked = StakingRepository(conn).locked_stake(provider_id, now)
    available = bonded.credits_posted - bonded.debits_posted - bonded.debits_pending
    free = st.free_to_unbond(available, locked)
    # More than is bonded at all: the ledger's own limit refuses it (exceeds_credits).
    if free < amount_base_units <= available:
        raise Conflict(
            f"amount_base_units: only {free} base units are out of their commitment lock",
            code="stake_locked", field="amount_base_units",
        )  # fmt: skip
    period = unbonding_period_s(conn, provider_id, params)
    return keepers.create_transfer(
        conn,
        TransferRequest(
            f"unbond:{request_id}", bonded.id, unbonding.id, amount_base_units,
            codes.STAKE_UNBOND,
            metadata={"provider_id": provider_id, "unbonding_period_s": period,
                      "withdrawable_at_s": int(now.timestamp()) + period},
        ),
        now=now,
    )  # fmt: skip


def withdraw(conn: Connection, *, provider_id: str, request_id: str, now: dt.datetime) -> Transfer:
    """Pay out an unbonding request once its period is over (idempotent on the request).

    Refused while a slash holds the unbonding stake: the limit check sees the pending debit.
    """
    request = keepers.find_transfer(conn, f"unbond:{request_id}")
    if request is None or request.metadata.get("provider_id") != provider_id:
        raise NotFound(f"no unbonding request {request_id} of {provider_id}",
                       code="unbond_request_not_found")  # fmt: skip
    ready_at = int(request.metadata["withdrawable_at_s"])
    if int(now.timestamp()) < ready_at:
        raise Conflict(f"request {request_id} is withdrawable from {ready_at}",
                       code="still_unbonding", field="request_id")  # fmt: skip
    custody = keepers.custody_account_id(conn)
    return keepers.create_transfer(
        conn,
        TransferRequest(
            f"withdraw:{request_id}", request.credit_account_id, custody, request.amount,
            codes.STAKE_WITHDRAW, metadata={"provider_id": provider_id},
        ),
        now=now,
    )  # fmt: skip
