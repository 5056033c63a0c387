"""Stake as the ledger mirrors it. Until the chain watcher lands, stake changes arrive through
this service (the watcher will call the same functions with the on-chain event as the id)."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import Connection

from ledger.db.engine import driver
from ledger.db.ledger_repo import LedgerRepository
from ledger.domain import codes
from ledger.domain.params import DEFAULT_PARAMS, ParameterSet
from ledger.domain.transfers import Transfer, TransferRequest
from ledger.errors import Conflict, LedgerServiceError, NotFound
from ledger.services.accounts import open_system_accounts
from ledger.services.ledger import create_transfer

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
        raise LedgerServiceError(f"lock_tier: {exc.args[0]}", field="lock_tier",
                                 code="unknown_lock_tier", status_code=422) from exc  # fmt: skip
    if not BOND_ID_RE.match(bond_id):
        raise LedgerServiceError("bond_id: 1-100 of [A-Za-z0-9:._-]", field="bond_id",
                                 code="invalid_bond_id", status_code=422)  # fmt: skip
    custody = open_system_accounts(conn)["onchain_custody"]
    bonded = LedgerRepository(conn).find_account(provider_id, "stake_bonded", "SWARM")
    if bonded is None:
        raise LedgerServiceError(
            f"provider_id: {provider_id} has no stake account (register the provider first)",
            field="provider_id", code="provider_not_found", status_code=422,
        )  # fmt: skip
    return create_transfer(
        conn,
        TransferRequest(
            f"bond:{bond_id}", custody, bonded.id, amount_base_units, codes.STAKE_BOND,
            metadata={"provider_id": provider_id, "lock_tier": tier.name,
                      "locked_until_s": int(now.timestamp()) + tier.lock_s},
        ),
        now=now,
    )  # fmt: skip


def locked_stake(conn: Connection, provider_id: str, now: dt.datetime) -> int:
    """Stake of the provider still inside its commitment lock at ``now``."""
    row = (
        driver(conn)
        .execute(
            "SELECT coalesce(sum(t.amount), 0)::text FROM transfers t "
            "JOIN accounts a ON a.id = t.credit_account_id "
            "WHERE a.owner = %s AND a.kind = 'stake_bonded' AND t.code = %s "
            "AND (t.metadata->>'locked_until_s')::bigint > %s",
            (provider_id, codes.STAKE_BOND, int(now.timestamp())),
        )
        .fetchone()
    )
    return int(row[0])


def unbonding_period_s(conn: Connection, provider_id: str, params: ParameterSet) -> int:
    """The provider's unbonding period: the longest of its active nodes' types (7 / 14 / 28 d
    by category), or the shortest type's when it runs no node."""
    types = {
        r[0]
        for r in driver(conn)
        .execute(
            "SELECT DISTINCT provider_type FROM nodes WHERE provider_id = %s AND status = 'active'",
            (provider_id,),
        )
        .fetchall()
    }
    periods = [params.provider_type(t).unbonding_period_s for t in types]
    if not periods:
        periods = [min(params.provider_type(t).unbonding_period_s
                       for t in params.providers.type_names)]  # fmt: skip
    return max(periods)


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
        raise LedgerServiceError("request_id: 1-100 of [A-Za-z0-9:._-]", field="request_id",
                                 code="invalid_request_id", status_code=422)  # fmt: skip
    repo = LedgerRepository(conn)
    bonded = repo.find_account(provider_id, "stake_bonded", "SWARM")
    unbonding = repo.find_account(provider_id, "stake_unbonding", "SWARM")
    if bonded is None or unbonding is None:
        raise LedgerServiceError(f"provider_id: {provider_id} has no stake accounts",
                                 field="provider_id", code="provider_not_found",
                                 status_code=422)  # fmt: skip
    locked = locked_stake(conn, provider_id, now)
    available = bonded.credits_posted - bonded.debits_posted - bonded.debits_pending
    free = max(0, available - locked)
    # More than is bonded at all: the ledger's own limit refuses it (exceeds_credits).
    if free < amount_base_units <= available:
        raise Conflict(
            f"amount_base_units: only {free} base units are out of their commitment lock",
            code="stake_locked", field="amount_base_units",
        )  # fmt: skip
    period = unbonding_period_s(conn, provider_id, params)
    return create_transfer(
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
    repo = LedgerRepository(conn)
    request = repo.get_transfers([f"unbond:{request_id}"]).get(f"unbond:{request_id}")
    if request is None or request.metadata.get("provider_id") != provider_id:
        raise NotFound(f"no unbonding request {request_id} of {provider_id}",
                       code="unbond_request_not_found")  # fmt: skip
    ready_at = int(request.metadata["withdrawable_at_s"])
    if int(now.timestamp()) < ready_at:
        raise Conflict(f"request {request_id} is withdrawable from {ready_at}",
                       code="still_unbonding", field="request_id")  # fmt: skip
    custody = open_system_accounts(conn)["onchain_custody"]
    return create_transfer(
        conn,
        TransferRequest(
            f"withdraw:{request_id}", request.credit_account_id, custody, request.amount,
            codes.STAKE_WITHDRAW, metadata={"provider_id": provider_id},
        ),
        now=now,
    )  # fmt: skip
