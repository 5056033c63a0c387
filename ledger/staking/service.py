"""Stake as the ledger mirrors it. Until the chain watcher lands, stake changes arrive through
this service (the watcher will call the same functions with the on-chain event as the id)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
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


def scoped_id(kind: str, provider_id: str, key: str) -> str:
    """The transfer id of a provider's stake command: idempotency keys are scoped by owner, so
    two providers may use the same ``bond_id`` / ``request_id`` and a conflict never names
    another provider's key (issue 15, point 9)."""
    return f"{kind}:{provider_id}:{key}"


def _own_legacy(conn: Connection, transfer_id: str, provider_id: str) -> Transfer | None:
    """A transfer booked under the unscoped ids used before owner scoping, if it is the
    provider's own (a retry of it stays idempotent); another provider's is ignored."""
    t = keepers.find_transfer(conn, transfer_id)
    if t is not None and t.metadata.get("provider_id") == provider_id:
        return t
    return None


def bond_stake(
    conn: Connection,
    *,
    provider_id: str,
    amount_base_units: int,
    bond_id: str,
    now: dt.datetime,
    lock_tier: str = "flexible",
    params: ParameterSet | None = None,
    min_lock_s: int = 0,
) -> Transfer:
    """Credit a provider's bonded stake (from on-chain custody). Idempotent on ``bond_id``.

    ``min_lock_s`` is the participant's minimum lock (network operators: 365 d), applied
    whatever the tier says.

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
    legacy = _own_legacy(conn, f"bond:{bond_id}", provider_id)
    if legacy is not None:
        return legacy
    return keepers.create_transfer(
        conn,
        TransferRequest(
            scoped_id("bond", provider_id, bond_id), custody, bonded.id, amount_base_units,
            codes.STAKE_BOND,
            metadata={"provider_id": provider_id, "lock_tier": tier.name,
                      "locked_until_s": int(now.timestamp()) + max(tier.lock_s, min_lock_s)},
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


def unbonding_period_s(
    conn: Connection, provider_id: str, params: ParameterSet, now: dt.datetime | None = None
) -> int:
    """The provider's unbonding period for a request at ``now``: the longest period of any node
    type it ran within the longest unbonding period before ``now`` (issue 15, point 8)."""
    at = now or dt.datetime.now(dt.UTC)
    history = StakingRepository(conn).node_version_history(provider_id, at)
    return st.unbonding_period_with_history(history, int(at.timestamp()), params)


def stake_at_risk(conn: Connection, provider_id: str, infraction_at: dt.datetime) -> int:
    """The provider's stake at risk for an infraction at ``infraction_at`` (SPEC 6): bonded
    stake just before it, so stake that started unbonding at or after it is included."""
    movements = StakingRepository(conn).bonded_movements(provider_id, infraction_at)
    return st.stake_at_risk_base_units(movements, int(infraction_at.timestamp()))


def stakes_at_risk(
    conn: Connection, infractions: Collection[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """:func:`stake_at_risk` of many ``(provider, infraction_at_s)`` in one query."""
    if not infractions:
        return {}
    latest = dt.datetime.fromtimestamp(max(t for _, t in infractions), dt.UTC)
    movements = StakingRepository(conn).bonded_movements_of(
        sorted({p for p, _ in infractions}), latest
    )
    return {(p, t): st.stake_at_risk_base_units(movements.get(p, []), t) for p, t in infractions}


def unbonding_entries_of(
    conn: Connection, providers: Sequence[str]
) -> dict[str, list[st.UnbondingEntry]]:
    """:func:`unbonding_entries` of many providers (all locked, in one fixed order)."""
    repo = StakingRepository(conn)
    repo.lock_entries_of(providers)
    return repo.unbonding_entries_of(providers)


def unbonding_entries(conn: Connection, provider_id: str) -> list[st.UnbondingEntry]:
    """The provider's unbonding entries with what is left of each, locked for the rest of the
    transaction against a concurrent withdrawal or hold."""
    repo = StakingRepository(conn)
    repo.lock_entries(provider_id)
    return repo.unbonding_entries(provider_id)


def request_unbond(
    conn: Connection,
    *,
    provider_id: str,
    amount_base_units: int,
    request_id: str,
    now: dt.datetime,
    params: ParameterSet,
    unbonding_period_override_s: int | None = None,
) -> Transfer:
    """Move bonded stake into the unbonding queue; withdrawable after the unbonding period.

    ``unbonding_period_override_s`` is a participant's fixed period (platform users, network
    operators); providers' period comes from the node types they ran.

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
    legacy = _own_legacy(conn, f"unbond:{request_id}", provider_id)
    if legacy is not None:
        return legacy
    period = (
        unbonding_period_s(conn, provider_id, params, now)
        if unbonding_period_override_s is None
        else unbonding_period_override_s
    )
    return keepers.create_transfer(
        conn,
        TransferRequest(
            scoped_id("unbond", provider_id, request_id), bonded.id, unbonding.id,
            amount_base_units,
            codes.STAKE_UNBOND,
            metadata={"provider_id": provider_id, "unbonding_period_s": period,
                      "withdrawable_at_s": int(now.timestamp()) + period},
        ),
        now=now,
    )  # fmt: skip


def _find_request(conn: Connection, provider_id: str, request_id: str) -> Transfer:
    request = keepers.find_transfer(conn, scoped_id("unbond", provider_id, request_id))
    if request is None:
        request = _own_legacy(conn, f"unbond:{request_id}", provider_id)
    if request is None or request.metadata.get("provider_id") != provider_id:
        raise NotFound(f"no unbonding request {request_id} of {provider_id}",
                       code="unbond_request_not_found")  # fmt: skip
    return request


def withdraw(conn: Connection, *, provider_id: str, request_id: str, now: dt.datetime) -> Transfer:
    """Pay out what is left of an unbonding request once its period is over.

    What is left is the request's amount less what executed slashes took from it, plus what
    refunds of overturned slashes gave back to it. Refused while a pending slash holds part of
    it (``unbonding_held``: the hold may still be voided or executed). Idempotent: with nothing
    left, the last withdrawal is returned; a refund after a withdrawal makes the rest
    withdrawable under the next id (``withdraw:<provider>:<request>:2``, ...).
    """
    request = _find_request(conn, provider_id, request_id)
    ready_at = int(request.metadata["withdrawable_at_s"])
    if int(now.timestamp()) < ready_at:
        raise Conflict(f"request {request_id} is withdrawable from {ready_at}",
                       code="still_unbonding", field="request_id")  # fmt: skip
    repo = StakingRepository(conn)
    entry = next(e for e in unbonding_entries(conn, provider_id) if e.entry_id == request.id)
    if repo.entry_held(request.credit_account_id, request.id):
        raise Conflict(
            f"request {request_id}: a pending slash holds part of it until its appeal ends",
            code="unbonding_held", field="request_id",
        )  # fmt: skip
    done = repo.withdrawals_of(request.credit_account_id, request.id)
    if entry.remaining_base_units == 0:
        if done:
            found = keepers.find_transfer(conn, done[-1])
            assert found is not None
            return found
        raise Conflict(f"request {request_id}: nothing is left to withdraw (slashed)",
                       code="nothing_to_withdraw", field="request_id")  # fmt: skip
    base = scoped_id("withdraw", provider_id, request_id)
    if request.id == f"unbond:{request_id}":  # legacy request ids keep their withdrawal id
        base = f"withdraw:{request_id}"
    transfer_id = base if not done else f"{base}:{len(done) + 1}"
    custody = keepers.custody_account_id(conn)
    return keepers.create_transfer(
        conn,
        TransferRequest(
            transfer_id, request.credit_account_id, custody, entry.remaining_base_units,
            codes.STAKE_WITHDRAW,
            metadata={"provider_id": provider_id, "unbond_transfer_id": request.id},
        ),
        now=now,
    )  # fmt: skip


# --- platform users and network operators (SPEC 5) ------------------------------------------


def _participant(stake_kind: str, address: str) -> str:
    if stake_kind not in st.PARTICIPANT_KINDS:
        raise InvalidInput(f"stake_kind: one of {', '.join(st.PARTICIPANT_KINDS)}",
                           field="stake_kind", code="unknown_stake_kind")  # fmt: skip
    return st.participant_owner(stake_kind, address)


def bond_participant_stake(
    conn: Connection,
    *,
    stake_kind: str,
    address: str,
    amount_base_units: int,
    bond_id: str,
    now: dt.datetime,
    params: ParameterSet,
) -> Transfer:
    """Bond a platform user's (flexible) or a network operator's (365 d minimum lock) stake in
    accounts of its own (opened on the first bond). It earns nothing from the provider pool and
    counts toward no provider's requirement: no node is ever registered to its owner."""
    owner = _participant(stake_kind, address)
    for kind in (AccountKind.STAKE_BONDED, AccountKind.STAKE_UNBONDING):
        keepers.open_account(conn, owner=owner, kind=kind)
    return bond_stake(
        conn, provider_id=owner, amount_base_units=amount_base_units, bond_id=bond_id, now=now,
        params=params, min_lock_s=st.participant_min_lock_s(stake_kind, params),
    )  # fmt: skip


def request_participant_unbond(
    conn: Connection,
    *,
    stake_kind: str,
    address: str,
    amount_base_units: int,
    request_id: str,
    now: dt.datetime,
    params: ParameterSet,
) -> Transfer:
    """Unbond a participant's stake: refused while a bond's minimum lock runs
    (``stake_locked``); withdrawable at once for platform users, after 28 d for operators."""
    return request_unbond(
        conn, provider_id=_participant(stake_kind, address), amount_base_units=amount_base_units,
        request_id=request_id, now=now, params=params,
        unbonding_period_override_s=st.participant_unbonding_period_s(stake_kind, params),
    )  # fmt: skip


def withdraw_participant(
    conn: Connection, *, stake_kind: str, address: str, request_id: str, now: dt.datetime
) -> Transfer:
    """Withdraw what is left of a participant's unbonding request (as :func:`withdraw`)."""
    return withdraw(
        conn, provider_id=_participant(stake_kind, address), request_id=request_id, now=now
    )
