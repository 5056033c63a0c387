"""The stake's life cycle around slashes (issue 15, issue 9 point 2): unbonding entries reduced
by executed slashes and withdrawable for the rest, refunds back to the entry they came from,
one incident per evidence, every jail appealable, repeats counted only when final, unbonding
periods that remember deactivated nodes, idempotency keys scoped by provider, and the ladder's
withheld reward held like a slash."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from ledger.accounting.domain import codes
from ledger.accounting.domain.transfers import TransferRequest
from ledger.accounting.repository import LedgerRepository
from ledger.accounting.service import (
    create_transfer,
    get_account,
    open_system_accounts,
    verify_ledger,
)
from ledger.kit.db import transaction
from ledger.kit.errors import Conflict
from ledger.kit.money import BASE_UNITS_PER_SWARM as SWARM
from ledger.params.domain import DEFAULT_PARAMS as P
from ledger.registry import service as registry
from ledger.slashing import appeals
from ledger.slashing import domain as sl
from ledger.slashing import service as slashing
from ledger.slashing.standing import standings_as_of
from ledger.staking import service as staking
from tests.integration.epoch_helpers import at, bond
from tests.integration.fleet import make_fleet, now_ts

DAY = 86_400
GOVERNORS = frozenset({"ann", "bob", "cyd"})


def balance(engine: Engine, owner: str, kind: str) -> int:
    """Posted balance less pending debits (what is available) of a provider account."""
    with engine.connect() as conn:
        a = LedgerRepository(conn).find_account(owner, kind, "SWARM")
        assert a is not None
        b = get_account(conn, a.id)
    return b.credits_posted - b.debits_posted - b.debits_pending


def fund_insurance(engine: Engine, amount: int, key: str) -> None:
    with transaction(engine) as conn:
        system = open_system_accounts(conn)
        create_transfer(conn, TransferRequest(f"fund-{key}", system["emission"],
                                              system["insurance_pool"], amount, 1),
                        now=dt.datetime.now(dt.UTC))  # fmt: skip


def slashed_unbonding(engine: Engine) -> tuple[str, str, int, sl.SlashStatus]:
    """A provider that bonded 10,000 SWARM, unbonded all of it after an infraction and was
    slashed 20% (2,000) from the unbonding entry; the slash executed. Returns (provider, node,
    t0, status)."""
    t0 = now_ts() - 300
    (node,) = make_fleet(engine, 1, types=("gaming_pc",), params=P, registered_at=at(t0))
    p = node.provider_id
    bond(engine, [node], at(t0 + 1), swarm=10_000)
    with transaction(engine) as conn:
        staking.request_unbond(conn, provider_id=p, amount_base_units=10_000 * SWARM,
                               request_id="all", now=at(t0 + 20), params=P)  # fmt: skip
        pen = slashing.report_violation(
            conn, kind="security_breach", node_id=node.node_id, evidence={"report": "r-1"},
            severity="major", now=at(t0 + 30), params=P, infraction_at=at(t0 + 10),
        )  # fmt: skip
    assert pen.slash_base_units == 2_000 * SWARM
    assert pen.document["hold_entries"] == {f"slash:{pen.id}:unbonding:1": f"unbond:{p}:all"}
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=at(pen.appeal_deadline_s), params=P) == 1
    return p, node.node_id, t0, slashing.get_penalty(engine.connect(), pen.id).status


def test_withdraw_pays_what_is_left_of_an_entry_after_an_executed_slash(engine: Engine) -> None:
    """Point 1: 10,000 unbonding, 2,000 slashed from it: the remaining 8,000 can leave."""
    p, _, t0, status = slashed_unbonding(engine)
    assert status == "executed"
    with engine.connect() as conn:
        (entry,) = staking.unbonding_entries(conn, p)
    assert entry.remaining_base_units == 8_000 * SWARM
    with transaction(engine) as conn:
        t = staking.withdraw(conn, provider_id=p, request_id="all", now=at(t0 + 20 + 7 * DAY))
        again = staking.withdraw(conn, provider_id=p, request_id="all",
                                 now=at(t0 + 20 + 7 * DAY))  # fmt: skip
    assert t.amount == 8_000 * SWARM and again.id == t.id  # idempotent
    assert balance(engine, p, "stake_unbonding") == 0
    with engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_refund_returns_each_part_to_its_entry_and_lifts_the_verdict(engine: Engine) -> None:
    """Point 2: the refund goes back to stake_unbonding and the entry it was taken from, the
    penalty becomes overturned, the jail is lifted; the entry can then be withdrawn in full."""
    p, node_id, t0, _ = slashed_unbonding(engine)
    with engine.connect() as conn:
        (pen,) = slashing.penalties_of_node(conn, node_id)
    fund_insurance(engine, pen.slash_base_units, pen.id[:8])
    with transaction(engine) as conn:
        ids = slashing.refund_executed(conn, penalty_id=pen.id, now=at(pen.appeal_deadline_s + 5))
        assert slashing.refund_executed(conn, penalty_id=pen.id,
                                        now=at(pen.appeal_deadline_s + 6)) == ids  # fmt: skip
    assert balance(engine, p, "stake_unbonding") == 10_000 * SWARM
    assert balance(engine, p, "stake_bonded") == 0
    with engine.connect() as conn:
        (entry,) = staking.unbonding_entries(conn, p)
        assert entry.remaining_base_units == 10_000 * SWARM
        assert slashing.get_penalty(conn, pen.id).status == "overturned"
        epoch = (pen.appeal_deadline_s + 10) // P.epoch.epoch_length_s + 1
        standing = standings_as_of(conn, epoch, P, [node_id])[node_id]
        assert standing.status == "active" and not standing.jailed
        assert verify_ledger(conn).ok
    with transaction(engine) as conn:
        t = staking.withdraw(conn, provider_id=p, request_id="all", now=at(t0 + 20 + 7 * DAY))
    assert t.amount == 10_000 * SWARM


def test_refund_after_a_withdrawal_makes_the_rest_withdrawable(engine: Engine) -> None:
    p, node_id, t0, _ = slashed_unbonding(engine)
    ready = at(t0 + 20 + 7 * DAY)
    with transaction(engine) as conn:
        first = staking.withdraw(conn, provider_id=p, request_id="all", now=ready)
    with engine.connect() as conn:
        (pen,) = slashing.penalties_of_node(conn, node_id)
    fund_insurance(engine, pen.slash_base_units, pen.id[:8])
    with transaction(engine) as conn:
        slashing.refund_executed(conn, penalty_id=pen.id, now=ready)
        second = staking.withdraw(conn, provider_id=p, request_id="all", now=ready)
    assert (first.amount, second.amount) == (8_000 * SWARM, 2_000 * SWARM)
    assert second.id == f"{first.id}:2" and balance(engine, p, "stake_unbonding") == 0


def test_unbonding_before_the_infraction_is_not_charged(engine: Engine) -> None:
    """Point 11: stake that started unbonding before the infraction is neither at risk nor
    charged; bonded stake pays first."""
    t0 = now_ts() - 300
    (node,) = make_fleet(engine, 1, types=("gaming_pc",), params=P, registered_at=at(t0))
    p = node.provider_id
    bond(engine, [node], at(t0 + 1), swarm=10_000)
    with transaction(engine) as conn:
        staking.request_unbond(conn, provider_id=p, amount_base_units=4_000 * SWARM,
                               request_id="early", now=at(t0 + 5), params=P)  # fmt: skip
        staking.request_unbond(conn, provider_id=p, amount_base_units=5_000 * SWARM,
                               request_id="late", now=at(t0 + 20), params=P)  # fmt: skip
        pen = slashing.report_violation(
            conn, kind="security_breach", node_id=node.node_id, evidence={"report": "r-2"},
            severity="critical", now=at(t0 + 30), params=P, infraction_at=at(t0 + 10),
        )  # fmt: skip
    # At risk: the 6,000 bonded at the infraction (1,000 still bonded + 5,000 unbonded after).
    assert pen.stake_at_risk_base_units == 6_000 * SWARM
    holds = pen.document["holds"]
    assert holds[f"slash:{pen.id}:stake"] == 1_000 * SWARM  # bonded first
    assert holds[f"slash:{pen.id}:unbonding:1"] == 5_000 * SWARM
    assert pen.document["hold_entries"] == {f"slash:{pen.id}:unbonding:1": f"unbond:{p}:late"}
    with engine.connect() as conn:
        left = {e.entry_id: e.remaining_base_units for e in staking.unbonding_entries(conn, p)}
    assert left == {f"unbond:{p}:early": 4_000 * SWARM, f"unbond:{p}:late": 0}


def test_the_same_evidence_at_another_time_is_the_same_incident(engine: Engine) -> None:
    """Point 4: the incident's identity is its evidence, not the moment named."""
    t0 = now_ts() - 300
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(t0))
    bond(engine, [node], at(t0 + 1), swarm=10_000)
    with transaction(engine) as conn:
        a = slashing.report_violation(
            conn, kind="security_breach", node_id=node.node_id, evidence={"report": "same"},
            severity="major", now=at(t0 + 200), params=P, infraction_at=at(t0 + 10),
        )  # fmt: skip
        b = slashing.report_violation(
            conn, kind="security_breach", node_id=node.node_id, evidence={"report": "same"},
            severity="major", now=at(t0 + 200), params=P,
            infraction_at=at(t0 + 10 - P.epoch.epoch_length_s),
        )  # fmt: skip
        assert a.id == b.id and len(slashing.penalties_of_node(conn, node.node_id)) == 1
    assert balance(engine, node.provider_id, "stake_bonded") == 8_000 * SWARM


def test_a_jail_without_stake_at_risk_can_be_appealed_and_voided(engine: Engine) -> None:
    """Point 5: stake at risk 0, a security breach jails: it is pending, appealable, voidable."""
    t0 = now_ts() - 300
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(t0))
    with transaction(engine) as conn:
        open_system_accounts(conn)
        pen = slashing.report_violation(
            conn, kind="security_breach", node_id=node.node_id, evidence={"report": "r-0"},
            severity="major", now=at(t0 + 30), params=P,
        )  # fmt: skip
    assert pen.slash_base_units == 0 and pen.status == "pending"
    with engine.connect() as conn:  # the standing it imposed, and the standing without it
        epoch = (t0 + 40) // P.epoch.epoch_length_s + 1
        assert standings_as_of(conn, epoch, P, [node.node_id])[node.node_id].jailed
        assert node.node_id not in standings_as_of(
            conn, epoch, P, [node.node_id], exclude_penalties=frozenset({pen.id})
        )
    now = at(t0 + 40)
    with transaction(engine) as conn:
        appeals.file_appeal(conn, penalty_id=pen.id, counter_evidence={"log": "x"}, now=now)
        for g in ("ann", "bob"):
            out = appeals.vote(conn, penalty_id=pen.id, governor=g, choice="void",
                               governors=GOVERNORS, now=now, params=P)  # fmt: skip
    assert out["status"] == "voided"


def test_a_repeat_counts_only_final_malicious_penalties(engine: Engine) -> None:
    """Point 6: a second malicious report while the first is pending does not tombstone, so
    voiding the first leaves nothing that counted it; after the first is final, a repeat
    tombstones."""
    t0 = now_ts() - 300
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(t0))
    bond(engine, [node], at(t0 + 1), swarm=10_000)

    def report(key: str, when: int) -> slashing.PenaltyRow:
        with transaction(engine) as conn:
            return slashing.report_violation(
                conn, kind="malicious_activity", node_id=node.node_id, evidence={"r": key},
                now=at(when), params=P,
            )  # fmt: skip

    first = report("a", t0 + 10)
    second = report("b", t0 + 20)
    assert not second.tombstone
    with transaction(engine) as conn:
        slashing.void_penalty(conn, penalty_id=first.id, now=at(t0 + 30))
        slashing.execute_due(conn, now=at(second.appeal_deadline_s), params=P)
    third = report("c", second.appeal_deadline_s + 10)
    assert third.tombstone  # the second is final (executed): this one is a repeat


def test_the_unbonding_period_remembers_nodes_deactivated_before(engine: Engine) -> None:
    """Point 8: deactivating the data-center node first does not shorten 28 d to 7 d."""
    nodes = make_fleet(engine, 2, types=("gaming_pc", "data_center"), params=P,
                       registered_at=at(now_ts() - 3_000))  # fmt: skip
    p = nodes[0].provider_id
    bond(engine, nodes, at(now_ts() - 2_000), swarm=200_000)
    now = dt.datetime.now(dt.UTC)
    with transaction(engine) as conn:
        registry.deregister_node(conn, node_id=nodes[1].node_id, params=P, now=now)
        t = staking.request_unbond(conn, provider_id=p, amount_base_units=SWARM,
                                   request_id="u", now=now, params=P)  # fmt: skip
    assert t.metadata["unbonding_period_s"] == 28 * DAY


def test_request_ids_are_scoped_by_provider(engine: Engine) -> None:
    """Point 9: provider B may use the id provider A used; a conflict names only B's own key."""
    a = make_fleet(engine, 1, params=P, registered_at=at(now_ts() - 100))
    b = make_fleet(engine, 1, params=P, registered_at=at(now_ts() - 100))
    bond(engine, a + b, at(now_ts() - 50), swarm=10_000)
    now = dt.datetime.now(dt.UTC)
    with transaction(engine) as conn:
        ta = staking.request_unbond(conn, provider_id=a[0].provider_id, amount_base_units=SWARM,
                                    request_id="r1", now=now, params=P)  # fmt: skip
        tb = staking.request_unbond(conn, provider_id=b[0].provider_id,
                                    amount_base_units=2 * SWARM, request_id="r1", now=now,
                                    params=P)  # fmt: skip
        sa = staking.bond_stake(conn, provider_id=a[0].provider_id, amount_base_units=SWARM,
                                bond_id="b1", now=now)  # fmt: skip
        sb = staking.bond_stake(conn, provider_id=b[0].provider_id, amount_base_units=SWARM,
                                bond_id="b1", now=now)  # fmt: skip
    assert ta.id != tb.id and sa.id != sb.id and tb.amount == 2 * SWARM
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        staking.request_unbond(conn, provider_id=b[0].provider_id, amount_base_units=3 * SWARM,
                               request_id="r1", now=now, params=P)  # fmt: skip
    assert a[0].provider_id not in str(ei.value)


def _downtime(node_id: str, provider: str, epoch: int) -> sl.Violation:
    return sl.make_violation(
        "downtime", node_id=node_id, provider_id=provider, infraction_epoch=epoch,
        infraction_at_s=epoch * P.epoch.epoch_length_s, evidence={"epoch": str(epoch)},
    )  # fmt: skip


def test_the_ladder_withheld_reward_is_held_split_or_restored(engine: Engine) -> None:
    """Issue 9, point 2: a second offence withholds half the epoch reward as a pending hold
    from rewards_accrued; executed it is split 50/30/20 with the slash; voided it is restored."""
    epoch = now_ts() // P.epoch.epoch_length_s - 2
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(epoch * 3600 - 100))
    p = node.provider_id
    reward = 1_000 * SWARM
    with transaction(engine) as conn:
        system = open_system_accounts(conn)
        rewards = LedgerRepository(conn).find_account(p, "rewards_accrued", "SWARM")
        assert rewards is not None
        create_transfer(conn, TransferRequest(f"r-{p}", system["emission"], rewards.id, reward,
                                              codes.REWARD), now=at(epoch * 3600))  # fmt: skip
    results = []
    now = at(now_ts())
    for e in (epoch, epoch + 1):
        v = _downtime(node.node_id, p, e)
        with transaction(engine) as conn:
            slashing.SlashingRepository(conn).insert_violation(slashing._violation_values(v, now))
            results.append(slashing._decide_and_hold(conn, v, now=now, params=P,
                                                     epoch_reward_base_units=reward))  # fmt: skip
    warning, second = results
    assert warning.status == "warning" and second.status == "pending"
    assert second.document["holds"][f"slash:{second.id}:withheld"] == reward // 2
    assert balance(engine, p, "rewards_accrued") == reward // 2
    with transaction(engine) as conn:
        slashing.void_penalty(conn, penalty_id=second.id, now=now)
    assert balance(engine, p, "rewards_accrued") == reward  # restored exactly
    with engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_an_executed_withheld_reward_is_split(engine: Engine) -> None:
    epoch = now_ts() // P.epoch.epoch_length_s - 2
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(epoch * 3600 - 100))
    p = node.provider_id
    with transaction(engine) as conn:
        system = open_system_accounts(conn)
        rewards = LedgerRepository(conn).find_account(p, "rewards_accrued", "SWARM")
        assert rewards is not None
        create_transfer(conn, TransferRequest(f"r-{p}", system["emission"], rewards.id, 101,
                                              codes.REWARD), now=at(epoch * 3600))  # fmt: skip
    now = at(now_ts())
    rows = []
    for e in (epoch, epoch + 1):
        v = _downtime(node.node_id, p, e)
        with transaction(engine) as conn:
            slashing.SlashingRepository(conn).insert_violation(slashing._violation_values(v, now))
            rows.append(slashing._decide_and_hold(conn, v, now=now, params=P,
                                                  epoch_reward_base_units=101))  # fmt: skip
    second = rows[1]
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=at(second.appeal_deadline_s), params=P) >= 1
    with engine.connect() as conn:
        (event,) = [
            d
            for pid, d in [(second.id, slashing.get_penalty(conn, second.id).document)]
            if pid == second.id
        ]
        assert slashing.get_penalty(conn, second.id).status == "executed"
        assert verify_ledger(conn).ok
    # 101 x 0.5 kept = 50 (down), withheld 51: all of it left the provider.
    assert balance(engine, p, "rewards_accrued") == 50
    assert event["holds"][f"slash:{second.id}:withheld"] == 51


def test_platform_users_and_network_operators_stake_in_their_own_accounts(
    engine: Engine,
) -> None:
    """Point 10: platform users' stake is flexible, network operators' is locked 365 d; both sit
    in accounts of their own and count toward no provider's stake (so no provider rewards)."""
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(now_ts() - 100))
    addr = node.provider_id  # the same address is also a provider: its stakes stay apart
    now = dt.datetime.now(dt.UTC)
    with transaction(engine) as conn:
        u = staking.bond_participant_stake(conn, stake_kind="platform_user", address=addr,
                                           amount_base_units=5 * SWARM, bond_id="u", now=now,
                                           params=P)  # fmt: skip
        o = staking.bond_participant_stake(conn, stake_kind="network_operator", address=addr,
                                           amount_base_units=7 * SWARM, bond_id="o", now=now,
                                           params=P)  # fmt: skip
    assert u.metadata["locked_until_s"] == int(now.timestamp())
    assert o.metadata["locked_until_s"] == int(now.timestamp()) + 365 * DAY
    assert balance(engine, f"platform_user:{addr}", "stake_bonded") == 5 * SWARM
    assert balance(engine, f"network_operator:{addr}", "stake_bonded") == 7 * SWARM
    with engine.connect() as conn:
        from ledger.registry.repository import RegistryRepository

        nodes = RegistryRepository(conn).nodes_as_of(now + dt.timedelta(seconds=1))
        compliance = staking.stake_compliance(conn, nodes, now + dt.timedelta(seconds=1))
    assert compliance.bonded.get(addr, 0) == 0  # neither stake backs the provider's nodes
    later = now + dt.timedelta(seconds=1)
    with transaction(engine) as conn:
        r = staking.request_participant_unbond(conn, stake_kind="platform_user", address=addr,
                                               amount_base_units=5 * SWARM, request_id="x",
                                               now=later, params=P)  # fmt: skip
        w = staking.withdraw_participant(conn, stake_kind="platform_user", address=addr,
                                         request_id="x", now=later)  # fmt: skip
    assert r.metadata["unbonding_period_s"] == 0 and w.amount == 5 * SWARM
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        staking.request_participant_unbond(conn, stake_kind="network_operator", address=addr,
                                           amount_base_units=SWARM, request_id="y",
                                           now=later, params=P)  # fmt: skip
    assert ei.value.code == "stake_locked"
    after_a_year = now + dt.timedelta(days=366)
    with transaction(engine) as conn:
        r = staking.request_participant_unbond(conn, stake_kind="network_operator", address=addr,
                                               amount_base_units=7 * SWARM, request_id="y",
                                               now=after_a_year, params=P)  # fmt: skip
    assert r.metadata["unbonding_period_s"] == 28 * DAY
    from ledger.kit.errors import InvalidInput

    with pytest.raises(InvalidInput) as bad, transaction(engine) as conn:
        staking.bond_participant_stake(
            conn, stake_kind="provider", address=addr, amount_base_units=1, bond_id="z",
            now=now, params=P,
        )  # fmt: skip
    assert bad.value.code == "unknown_stake_kind"


def test_participant_routes_over_http(engine: Engine, fresh_db_url: str, redis_url: str) -> None:
    from ledger.kit.config import Settings
    from tests.integration.test_api import make_client, make_runtime

    rt = make_runtime(engine, fresh_db_url, redis_url)
    rt.settings = Settings(SWARM_OPERATOR_TOKEN="t")
    rt.params = P
    auth = {"Authorization": "Bearer t"}
    addr = "0x" + "cd" * 20
    with make_client(rt) as c:
        r = c.post(f"/v1/stakers/{addr}/stake", headers=auth, json={
            "stake_kind": "platform_user", "amount_base_units": "10", "bond_id": "b"})  # fmt: skip
        assert r.status_code == 201, r.text
        body = {"stake_kind": "platform_user", "amount_base_units": "4", "request_id": "r"}
        r = c.post(f"/v1/stakers/{addr}/unbond", headers=auth, json=body)
        assert r.status_code == 201 and r.json()["amount_base_units"] == "4"
        r = c.post(f"/v1/stakers/{addr}/withdraw", headers=auth,
                   json={"stake_kind": "platform_user", "request_id": "r"})  # fmt: skip
        assert r.status_code == 201 and r.json()["amount_base_units"] == "4"
        r = c.post(f"/v1/stakers/{addr}/stake", headers=auth, json={
            "stake_kind": "whale", "amount_base_units": "1", "bond_id": "w"})  # fmt: skip
        assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_stake_kind"


def test_a_ladder_decision_that_counted_a_voided_penalty_is_redecided(engine: Engine) -> None:
    """Point 6, the ladder: offences in three epochs climb warning, penalty (0.1%), penalty
    (1%, jail 24 h). Voiding the second re-decides the third as a second offence: 0.1%, no jail,
    every unit of the first decision's hold back."""
    epoch = now_ts() // P.epoch.epoch_length_s - 3
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(epoch * 3600 - 100))
    p = node.provider_id
    bond(engine, [node], at(epoch * 3600 - 50), swarm=10_000)
    now = at(now_ts())
    rows = []
    for e in (epoch, epoch + 1, epoch + 2):
        v = _downtime(node.node_id, p, e)
        with transaction(engine) as conn:
            slashing.SlashingRepository(conn).insert_violation(slashing._violation_values(v, now))
            rows.append(slashing._decide_and_hold(conn, v, now=now, params=P))
    assert [r.offence_number for r in rows] == [1, 2, 3]
    assert rows[2].jail_until_s is not None
    with transaction(engine) as conn:
        slashing.void_penalty(conn, penalty_id=rows[1].id, now=now, params=P)
    with engine.connect() as conn:
        after = {r.id: r for r in slashing.penalties_of_node(conn, node.node_id)}
        assert after[rows[2].id].status == "voided"
        (redecided,) = [r for r in after.values() if r.id not in {x.id for x in rows}]
        assert verify_ledger(conn).ok
    assert redecided.offence_number == 2 and redecided.jail_until_s is None
    assert redecided.infraction_epoch == epoch + 2 and redecided.status == "pending"
    assert redecided.slash_base_units == 10 * SWARM  # 0.1% of 10,000
    assert balance(engine, p, "stake_bonded") == 10_000 * SWARM - 10 * SWARM


def test_a_void_names_the_epochs_and_standing_the_jail_cost(engine: Engine) -> None:
    """Point 3, slashing's side: the epochs paid while jailed by a penalty voided later, with
    the standing the node would have had (what the epochs side recomputes rewards with)."""
    from ledger.slashing.standing import standing_lost_to

    length, grace = P.epoch.epoch_length_s, P.epoch.epoch_settle_grace_s
    e = now_ts() // length - 6
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(e * length - 100))
    with transaction(engine) as conn:
        open_system_accounts(conn)
        pen = slashing.report_violation(
            conn, kind="security_breach", node_id=node.node_id, evidence={"report": "r-3"},
            severity="major", now=at(e * length + grace + 10), params=P,
        )  # fmt: skip
        slashing.void_penalty(conn, penalty_id=pen.id, now=at((e + 3) * length + grace), params=P)
    with engine.connect() as conn:
        lost = standing_lost_to(conn, pen.id, P)
    assert [x[0] for x in lost] == [e + 1, e + 2, e + 3]
    assert all(paid.jailed and not fair.jailed for _, paid, fair in lost)


def test_a_node_violation_never_reaches_its_providers_operator_stake(engine: Engine) -> None:
    """Point 10: a network operator's stake is at risk for its own duties only. The same
    address slashed as a provider for one of its nodes keeps its operator stake whole: the
    stake at risk and the holds are the provider's accounts alone."""
    t0 = now_ts() - 300
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(t0))
    addr = node.provider_id
    bond(engine, [node], at(t0 + 1), swarm=1_000)
    with transaction(engine) as conn:
        staking.bond_participant_stake(conn, stake_kind="network_operator", address=addr,
                                       amount_base_units=9_000 * SWARM, bond_id="op",
                                       now=at(t0 + 2), params=P)  # fmt: skip
        pen = slashing.report_violation(
            conn, kind="security_breach", node_id=node.node_id, evidence={"report": "op-1"},
            severity="major", now=at(t0 + 30), params=P, infraction_at=at(t0 + 10),
        )  # fmt: skip
    assert pen.stake_at_risk_base_units == 1_000 * SWARM  # the provider's bond only
    assert pen.slash_base_units == 200 * SWARM
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=at(pen.appeal_deadline_s), params=P) == 1
    assert balance(engine, f"network_operator:{addr}", "stake_bonded") == 9_000 * SWARM
    assert balance(engine, addr, "stake_bonded") == 800 * SWARM
    with engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_a_tied_appeal_or_a_removed_governors_vote_never_executes_the_slash(
    engine: Engine,
) -> None:
    """The appeal is decided once, by the domain's rule, wherever it is read: execution after
    the deadline needs the uphold side at quorum *and* the void side below it, counting only
    current governors' votes (before, the executor's SQL counted uphold votes alone)."""
    four = frozenset({"ann", "bob", "cyd", "dan"})
    t0 = now_ts() - 300
    nodes = make_fleet(engine, 2, params=P, registered_at=at(t0))
    bond(engine, nodes, at(t0 + 1), swarm=1_000)
    pens = []
    with transaction(engine) as conn:
        for i, node in enumerate(nodes):
            pens.append(slashing.report_violation(
                conn, kind="security_breach", node_id=node.node_id,
                evidence={"report": f"tie-{i}"}, severity="major", now=at(t0 + 30), params=P,
            ))  # fmt: skip
            appeals.file_appeal(conn, penalty_id=pens[-1].id, counter_evidence={"why": "x"},
                                now=at(t0 + 40))  # fmt: skip
        for governor, choice in (("ann", "uphold"), ("bob", "uphold"), ("cyd", "void"),
                                 ("dan", "void")):  # fmt: skip
            appeals.vote(conn, penalty_id=pens[0].id, governor=governor, choice=choice,
                         governors=four, now=at(t0 + 50), params=P)  # fmt: skip
        for governor in ("ann", "bob"):
            appeals.vote(conn, penalty_id=pens[1].id, governor=governor, choice="uphold",
                         governors=four, now=at(t0 + 50), params=P)  # fmt: skip
    deadline = max(p.appeal_deadline_s for p in pens)
    still = frozenset({"ann", "cyd", "dan"})  # bob is no longer a governor
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=at(deadline), params=P, governors=still) == 0
    with engine.connect() as conn:
        assert [slashing.get_penalty(conn, p.id).status for p in pens] == ["pending", "pending"]
    with transaction(engine) as conn:  # with bob a governor again, the second is upheld
        assert slashing.execute_due(conn, now=at(deadline), params=P, governors=four) == 1
    with engine.connect() as conn:
        assert slashing.get_penalty(conn, pens[1].id).status == "executed"
        assert slashing.get_penalty(conn, pens[0].id).status == "pending"  # the tie waits
