"""Unbonding queue: stake moves to unbonding, is withdrawable only after the type's period,
and a pending slash hold on it blocks the withdrawal."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from ledger.accounting.repository import LedgerRepository
from ledger.accounting.service import get_account
from ledger.kit.db import transaction
from ledger.kit.errors import Conflict, InvalidInput
from ledger.kit.money import BASE_UNITS_PER_SWARM as SWARM
from ledger.params.domain import DEFAULT_PARAMS as P
from ledger.params.domain.epochs import epoch_settles_at
from ledger.slashing import service as slashing
from ledger.staking import service as staking
from tests.integration.epoch_helpers import at, bond
from tests.integration.fleet import make_fleet, now_ts


def balance(engine: Engine, owner: str, kind: str) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        a = LedgerRepository(conn).find_account(owner, kind, "SWARM")
        assert a is not None
        b = get_account(conn, a.id)
    return b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted


def test_unbond_then_withdraw_after_the_period(engine: Engine) -> None:
    t0 = now_ts() - 100
    nodes = make_fleet(engine, 2, types=("gaming_pc", "data_center"), params=P,
                       registered_at=at(t0))  # fmt: skip
    p = nodes[0].provider_id
    bond(engine, nodes, at(t0 + 1), swarm=500_000)
    with transaction(engine) as conn:
        req = staking.request_unbond(conn, provider_id=p, amount_base_units=100_000 * SWARM,
                                     request_id="u1", now=at(t0 + 2), params=P)  # fmt: skip
    # A data_center in the fleet: the provider's period is the datacenter one (28 days).
    assert req.metadata["withdrawable_at_s"] == t0 + 2 + 28 * 86_400
    assert balance(engine, p, "stake_unbonding")[3] == 100_000 * SWARM
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        staking.withdraw(conn, provider_id=p, request_id="u1", now=at(t0 + 3))
    assert ei.value.code == "still_unbonding"
    with pytest.raises(InvalidInput), transaction(engine) as conn:  # more than is bonded
        staking.request_unbond(conn, provider_id=p, amount_base_units=401_000 * SWARM,
                               request_id="u2", now=at(t0 + 3), params=P)  # fmt: skip
    later = at(t0 + 2 + 28 * 86_400)
    with transaction(engine) as conn:
        staking.withdraw(conn, provider_id=p, request_id="u1", now=later)
        staking.withdraw(conn, provider_id=p, request_id="u1", now=later)  # idempotent
    assert balance(engine, p, "stake_unbonding") == (0, 100_000 * SWARM, 0, 100_000 * SWARM)


def test_a_pending_slash_on_unbonding_stake_blocks_the_withdrawal(engine: Engine) -> None:
    t0 = now_ts() - 300
    nodes = make_fleet(engine, 1, types=("gaming_pc",), params=P, registered_at=at(t0))
    p = nodes[0].provider_id
    bond(engine, nodes, at(t0 + 1), swarm=10_000)
    with transaction(engine) as conn:  # everything leaves bonded right after the infraction
        staking.request_unbond(conn, provider_id=p, amount_base_units=10_000 * SWARM,
                               request_id="all", now=at(t0 + 20), params=P)  # fmt: skip
        pen = slashing.report_violation(
            conn, kind="security_breach", node_id=nodes[0].node_id,
            evidence={"report": "r-1"}, severity="major", now=at(t0 + 30), params=P,
            infraction_at=at(t0 + 10),
        )  # fmt: skip
    assert pen.status == "pending" and pen.slash_base_units == 2_000 * SWARM
    assert balance(engine, p, "stake_unbonding")[0] == 2_000 * SWARM  # held
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        staking.withdraw(conn, provider_id=p, request_id="all",
                         now=dt.datetime.fromtimestamp(t0 + 20 + 8 * 86_400, dt.UTC))  # fmt: skip
    assert ei.value.code == "unbonding_held"


def test_locked_stake_earns_its_tier_and_cannot_leave_early(engine: Engine) -> None:
    from ledger.epochs import service as epochs
    from ledger.params.domain import demo_params
    from ledger.rewards.repository import RewardsRepository
    from tests.integration.epoch_helpers import future_epoch, send_epoch

    dp = demo_params()
    e = future_epoch(dp)
    committed = make_fleet(engine, 1, types=("gaming_pc",), params=dp)
    loose = make_fleet(engine, 1, types=("gaming_pc",), params=dp)
    with transaction(engine) as conn:
        staking.bond_stake(conn, provider_id=committed[0].provider_id,
                           amount_base_units=2_000 * SWARM, bond_id="c", now=at(e * 60 - 5),
                           lock_tier="365d", params=dp)  # fmt: skip
        staking.bond_stake(conn, provider_id=loose[0].provider_id,
                           amount_base_units=2_000 * SWARM, bond_id="l", now=at(e * 60 - 5),
                           params=dp)  # fmt: skip
    send_epoch(engine, committed + loose, e, dp)
    with transaction(engine) as conn:
        epochs.close_epoch(conn, e, now=at(epoch_settles_at(e, dp)), params=dp)
    with engine.connect() as conn:
        r = RewardsRepository(conn).receipts(e)
        assert epochs.verify_epoch(conn, e, params=dp).ok
    c, f = r[committed[0].node_id][1], r[loose[0].node_id][1]
    assert (c["commitment_tier"], c["commitment_multiplier_ppm"]) == ("365d", 1_350_000)
    assert (f["commitment_tier"], f["commitment_multiplier_ppm"]) == ("flexible", 1_000_000)
    assert r[committed[0].node_id][0] > r[loose[0].node_id][0]
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        staking.request_unbond(conn, provider_id=committed[0].provider_id,
                               amount_base_units=1, request_id="early",
                               now=at(e * 60 + 100), params=dp)  # fmt: skip
    assert ei.value.code == "stake_locked"
    with transaction(engine) as conn:  # after the year, it may leave
        staking.request_unbond(conn, provider_id=committed[0].provider_id,
                               amount_base_units=2_000 * SWARM, request_id="later",
                               now=at(e * 60 + 365 * 86_400), params=dp)  # fmt: skip
