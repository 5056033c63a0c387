"""Slashing on the real ledger: violations recorded once, holds, execution, split, voids."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from ledger.accounting.domain import codes
from ledger.accounting.domain.transfers import TransferRequest
from ledger.accounting.repository import LedgerRepository
from ledger.accounting.service import (
    PROVIDER_ACCOUNT_KINDS,
    SYSTEM_ACCOUNTS,
    create_transfers,
    verify_ledger,
)
from ledger.api.errors import status_of
from ledger.kit.db import transaction
from ledger.kit.money import BASE_UNITS_PER_SWARM
from ledger.params.domain import demo_params
from ledger.params.domain.epochs import epoch_settles_at
from ledger.slashing import service as slashing
from ledger.slashing.repository import PenaltyRow
from ledger.staking import service as staking
from tests.integration.epoch_helpers import at, bond, future_epoch, send_epoch
from tests.integration.fleet import FleetNode, make_fleet

P = demo_params()  # 60 s epochs: one heartbeat per node per epoch
SWARM = BASE_UNITS_PER_SWARM
ODD = 7_777  # extra base units bonded, so the slash does not split evenly
STAKE = 1_000_000 * SWARM + ODD
UNSTAKE_CODE = 201  # test-only code for bonded -> unbonding

Counters = dict[tuple[str, str], tuple[int, int, int, int]]


def settled(epoch: int) -> int:
    return epoch_settles_at(epoch, P)


def down(node: FleetNode):  # type: ignore[no-untyped-def]
    return lambda n, k: None if n.node_id == node.node_id else {}


def counters(engine: Engine, provider: str) -> Counters:
    """All four counters of the provider's accounts and of every system account."""
    out: Counters = {}
    with engine.connect() as conn:
        repo = LedgerRepository(conn)
        for owner, kinds in (
            (provider, PROVIDER_ACCOUNT_KINDS),
            ("system", tuple(SYSTEM_ACCOUNTS)),
        ):
            for kind in kinds:
                row = repo.find_account(owner, kind, "SWARM")
                assert row is not None
                out[(owner, kind)] = (
                    row.debits_pending, row.debits_posted, row.credits_pending, row.credits_posted,
                )  # fmt: skip
    return out


def available(c: Counters, owner: str, kind: str) -> int:
    dp, dpost, _cp, cpost = c[(owner, kind)]
    return cpost - dpost - dp


def slash_transfers(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, kind, amount::text FROM transfers WHERE id LIKE 'slash:%' ORDER BY seq"
            )
        ).all()
    return [(r[0], r[1], int(r[2])) for r in rows]


def violation_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM slash_violations")).scalar_one())


def evaluate(engine: Engine, epoch: int, now_s: int | None = None) -> list[PenaltyRow]:
    """The epoch's performance penalties (under-stake records, no money, are left out)."""
    with transaction(engine) as conn:
        decided = slashing.evaluate_epoch(
            conn, epoch, now=at(now_s if now_s is not None else settled(epoch)), params=P
        )
    return [p for p in decided if p.kind != "under_stake"]


def ledger_ok(engine: Engine) -> bool:
    with engine.connect() as conn:
        return verify_ledger(conn).ok


@pytest.fixture
def fleet(engine: Engine) -> tuple[list[FleetNode], int]:
    """Five nodes of one provider in one region (one down is exactly 20%: not an outage)."""
    nodes = make_fleet(engine, 5, params=P)
    epoch = future_epoch(P)
    bond(engine, nodes, at(epoch * 60 - 2), swarm=1_000_000)
    with transaction(engine) as conn:
        staking.bond_stake(
            conn, provider_id=nodes[0].provider_id, amount_base_units=ODD, bond_id="odd",
            now=at(epoch * 60 - 2),
        )  # fmt: skip
    return nodes, epoch


def give_rewards(engine: Engine, provider: str, amount: int, when: int) -> None:
    with transaction(engine) as conn:
        repo = LedgerRepository(conn)
        emission = repo.find_account("system", "emission", "SWARM")
        accrued = repo.find_account(provider, "rewards_accrued", "SWARM")
        assert emission is not None and accrued is not None
        create_transfers(
            conn, [TransferRequest(f"test-reward:{provider}", emission.id, accrued.id, amount,
                                   codes.REWARD)], now=at(when),
        )  # fmt: skip


def second_offence(engine: Engine, nodes: list[FleetNode], epoch: int) -> PenaltyRow:
    """Node 0 down in two epochs: the second offence is a pending slash (0.1% of stake)."""
    send_epoch(engine, nodes, epoch, P, down(nodes[0]))
    send_epoch(engine, nodes, epoch + 1, P, down(nodes[0]))
    [first] = evaluate(engine, epoch, settled(epoch + 1))
    assert first.status == "warning" and first.offence_number == 1
    [second] = evaluate(engine, epoch + 1)
    assert second.status == "pending" and second.offence_number == 2
    return second


def test_first_downtime_is_a_warning_and_a_rerun_records_nothing(
    engine: Engine, fleet: tuple[list[FleetNode], int]
) -> None:
    nodes, epoch = fleet
    send_epoch(engine, nodes, epoch, P, down(nodes[0]))
    before = counters(engine, nodes[0].provider_id)
    decided = evaluate(engine, epoch)
    assert [(p.node_id, p.kind, p.status, p.outcome) for p in decided] == [
        (nodes[0].node_id, "downtime", "warning", "warning")
    ]
    assert decided[0].slash_base_units == 0
    assert slash_transfers(engine) == []
    assert counters(engine, nodes[0].provider_id) == before
    assert violation_count(engine) == 1
    assert evaluate(engine, epoch, settled(epoch) + 500) == []
    assert violation_count(engine) == 1


def test_too_early_is_refused(engine: Engine, fleet: tuple[list[FleetNode], int]) -> None:
    _nodes, epoch = fleet
    with pytest.raises(Exception, match="settles at"):
        evaluate(engine, epoch, settled(epoch) - 1)


def test_correlated_outage_is_waived(engine: Engine, fleet: tuple[list[FleetNode], int]) -> None:
    nodes, epoch = fleet
    out = {nodes[0].node_id, nodes[1].node_id}  # 2 of 5 = 40% > 20%
    send_epoch(engine, nodes, epoch, P, lambda n, k: None if n.node_id in out else {})
    assert evaluate(engine, epoch) == []
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT waived, waiver->>'reason' FROM slash_violations")).all()
    assert sorted(tuple(r) for r in rows) == [(True, "correlated_outage")] * 2


def test_second_offence_holds_rewards_first_then_stake(
    engine: Engine, fleet: tuple[list[FleetNode], int]
) -> None:
    nodes, epoch = fleet
    provider = nodes[0].provider_id
    give_rewards(engine, provider, 400 * SWARM, epoch * 60 - 1)
    before = counters(engine, provider)
    p = second_offence(engine, nodes, epoch)
    slash = STAKE // 1000  # 0.1% of the stake at risk, rounded down
    assert p.stake_at_risk_base_units == STAKE
    assert p.slash_base_units == slash
    assert (p.from_rewards_base_units, p.from_stake_base_units) == (
        400 * SWARM,
        slash - 400 * SWARM,
    )
    after = counters(engine, provider)
    assert after[(provider, "rewards_accrued")][0] == 400 * SWARM  # debits_pending
    assert after[(provider, "stake_bonded")][0] == slash - 400 * SWARM
    assert after[("system", "slash_escrow")][2] == slash  # credits_pending
    assert available(after, provider, "rewards_accrued") == 0
    assert available(after, provider, "stake_bonded") == STAKE - (slash - 400 * SWARM)
    # Nothing posted yet: posted counters are unchanged everywhere.
    for key, c in after.items():
        assert c[1] == before[key][1] and c[3] == before[key][3], key
    assert [(i, k) for i, k, _ in slash_transfers(engine)] == [
        (f"slash:{p.id}:rewards", "pending"),
        (f"slash:{p.id}:stake", "pending"),
    ]
    assert ledger_ok(engine)


def test_execute_waits_for_the_deadline_then_splits_exactly(
    engine: Engine, fleet: tuple[list[FleetNode], int]
) -> None:
    nodes, epoch = fleet
    provider = nodes[0].provider_id
    give_rewards(engine, provider, 400 * SWARM, epoch * 60 - 1)
    p = second_offence(engine, nodes, epoch)
    before = counters(engine, provider)
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=at(p.appeal_deadline_s - 1), params=P) == 0
    assert counters(engine, provider) == before
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=at(p.appeal_deadline_s), params=P) == 1
    after = counters(engine, provider)
    slash = p.slash_base_units
    treasury, burn = slash * 3 // 10, slash // 5
    insurance = slash - treasury - burn
    assert insurance > slash // 2  # the remainder went to insurance
    gain = {
        k: after[("system", k)][3] - before[("system", k)][3]
        for k in ("insurance_pool", "treasury", "burn")
    }
    assert gain == {"insurance_pool": insurance, "treasury": treasury, "burn": burn}
    assert sum(gain.values()) == slash
    assert after[("system", "slash_escrow")] == (0, slash, 0, slash)  # in and out again
    assert after[(provider, "rewards_accrued")][:2] == (0, 400 * SWARM)
    assert after[(provider, "stake_bonded")][:2] == (0, slash - 400 * SWARM)
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=at(p.appeal_deadline_s + 99), params=P) == 0
        assert slashing.get_penalty(conn, p.id).status == "executed"
    assert counters(engine, provider) == after
    assert ledger_ok(engine)
    with pytest.raises(slashing.PenaltyNotPending) as err, transaction(engine) as conn:
        slashing.void_penalty(conn, penalty_id=p.id, now=at(p.appeal_deadline_s + 100))
    assert status_of(err.value) == 409


def test_void_restores_every_balance_and_nothing_executes_later(
    engine: Engine, fleet: tuple[list[FleetNode], int]
) -> None:
    nodes, epoch = fleet
    provider = nodes[0].provider_id
    give_rewards(engine, provider, 400 * SWARM, epoch * 60 - 1)
    before = counters(engine, provider)
    p = second_offence(engine, nodes, epoch)
    assert counters(engine, provider) != before
    with transaction(engine) as conn:
        voided = slashing.void_penalty(conn, penalty_id=p.id, now=at(p.appeal_deadline_s - 10))
    assert voided.status == "voided" and voided.settled_at is not None
    assert counters(engine, provider) == before
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=at(p.appeal_deadline_s + 10), params=P) == 0
    assert counters(engine, provider) == before
    assert ledger_ok(engine)
    with pytest.raises(slashing.PenaltyNotFound) as err, transaction(engine) as conn:
        slashing.void_penalty(conn, penalty_id="0" * 64, now=at(p.appeal_deadline_s))
    assert status_of(err.value) == 404 and err.value.code == "penalty_not_found"


def test_unstaking_after_the_infraction_does_not_escape_the_slash(
    engine: Engine, fleet: tuple[list[FleetNode], int]
) -> None:
    nodes, epoch = fleet
    provider = nodes[0].provider_id
    send_epoch(engine, nodes, epoch, P, down(nodes[0]))
    send_epoch(engine, nodes, epoch + 1, P, down(nodes[0]))
    # The second infraction is at the start of epoch + 1; the provider unstakes everything
    # one second later, before the epoch is evaluated.
    with transaction(engine) as conn:
        repo = LedgerRepository(conn)
        bonded = repo.find_account(provider, "stake_bonded", "SWARM")
        unbonding = repo.find_account(provider, "stake_unbonding", "SWARM")
        assert bonded is not None and unbonding is not None
        create_transfers(
            conn, [TransferRequest("test-unstake", bonded.id, unbonding.id, STAKE, UNSTAKE_CODE)],
            now=at((epoch + 1) * 60 + 1),
        )  # fmt: skip
    evaluate(engine, epoch, settled(epoch + 1))
    [p] = evaluate(engine, epoch + 1)
    assert p.stake_at_risk_base_units == STAKE
    assert p.status == "pending" and p.from_stake_base_units == p.slash_base_units == STAKE // 1000
    assert [(i, a) for i, _, a in slash_transfers(engine)] == [
        (f"slash:{p.id}:unbonding:1", p.slash_base_units)
    ]
    c = counters(engine, provider)
    assert c[(provider, "stake_unbonding")][0] == p.slash_base_units
    assert c[(provider, "stake_bonded")] == (0, STAKE, 0, STAKE)
    assert ledger_ok(engine)


def test_the_same_security_evidence_slashes_once(
    engine: Engine, fleet: tuple[list[FleetNode], int]
) -> None:
    nodes, epoch = fleet
    provider = nodes[0].provider_id
    t = epoch * 60 + 10
    evidence = {"report": "sha256:abc", "vector": "ssh key leaked", "seen_at": str(t)}
    with transaction(engine) as conn:
        first = slashing.report_violation(
            conn, kind="security_breach", node_id=nodes[0].node_id, evidence=evidence,
            severity="major", now=at(t + 5), params=P, infraction_at=at(t),
        )  # fmt: skip
    assert first.status == "pending" and first.slash_base_units == STAKE // 5  # 20%
    assert first.tombstone is False
    after_first = counters(engine, provider)
    reordered = dict(reversed(list(evidence.items())))
    with transaction(engine) as conn:
        again = slashing.report_violation(
            conn, kind="security_breach", node_id=nodes[0].node_id, evidence=reordered,
            severity="major", now=at(t + 500), params=P, infraction_at=at(t),
        )  # fmt: skip
    assert again.id == first.id
    assert violation_count(engine) == 1
    assert [(i, a) for i, _, a in slash_transfers(engine)] == [
        (f"slash:{first.id}:stake", STAKE // 5)
    ]
    assert counters(engine, provider) == after_first
    assert ledger_ok(engine)


def test_duplicate_hardware_identity_is_one_incident(engine: Engine) -> None:
    import hashlib
    import secrets as _secrets

    from ledger.kit.signing import address_of
    from ledger.registry import service as registry
    from ledger.registry.domain import HardwareProfile

    epoch = future_epoch(P)
    # Stake is bonded before the nodes register: the registration is the infraction.
    nodes = make_fleet(engine, 2, params=P, registered_at=at(epoch * 60 - 1))
    bond(engine, nodes, at(epoch * 60 - 2), swarm=1_000_000)
    fingerprint = hashlib.sha256(b"same-rig").hexdigest()
    with transaction(engine) as conn:
        for n in nodes:  # both claim the same physical machine (a new version each)
            registry.update_node(
                conn, node_id=n.node_id, provider_type="gaming_pc", region="eu-west",
                hardware=HardwareProfile(1, "rtx4090", 32, 2, 1, fingerprint),
                node_address=address_of(_secrets.token_bytes(32)), params=P,
                now=at(epoch * 60 + 1),
            )  # fmt: skip
    send_epoch(engine, nodes, epoch, P, shape=lambda n, k: None)  # silent: no performance case
    with transaction(engine) as conn:
        decided = slashing.evaluate_epoch(conn, epoch, now=at(epoch_settles_at(epoch, P)),
                                          params=P)  # fmt: skip
    sybil = [p for p in decided if p.kind == "duplicate_hardware"]
    assert len(sybil) == 1 and sybil[0].node_id == nodes[1].node_id  # the later registration
    assert sybil[0].slash_fraction_ppm == 50_000 and sybil[0].status == "pending"
    with transaction(engine) as conn:  # found again next epoch: the same incident
        again = slashing.evaluate_epoch(
            conn, epoch + 1, now=at(epoch_settles_at(epoch + 1, P)), params=P
        )
    assert [p for p in again if p.kind == "duplicate_hardware"] == []
    from ledger.slashing.standing import standings_as_of

    with engine.connect() as conn:
        jailed = standings_as_of(conn, epoch + 2, P, [nodes[1].node_id])[nodes[1].node_id]
    assert jailed.status == "jailed" and "compliance_verification" in jailed.unjail_requirements
    # The original leaves: the duplicate's identity is unique again, compliance passes itself.
    with transaction(engine) as conn:
        registry.deregister_node(conn, node_id=nodes[0].node_id, params=P,
                                 now=at((epoch + 1) * 60 + 5))  # fmt: skip
        slashing.evaluate_epoch(conn, epoch + 2, now=at(epoch_settles_at(epoch + 2, P)),
                                params=P)  # fmt: skip
    with engine.connect() as conn:
        freed = standings_as_of(conn, epoch + 4, P, [nodes[1].node_id])[nodes[1].node_id]
    assert freed.status == "active"
    assert ledger_ok(engine)


def test_under_stake_is_recorded_once_per_streak_without_a_slash(engine: Engine) -> None:
    epoch = future_epoch(P)
    nodes = make_fleet(engine, 2, params=P, registered_at=at(epoch * 60 - 25 * 3600))
    send_epoch(engine, nodes, epoch, P)
    with transaction(engine) as conn:
        first = slashing.evaluate_epoch(conn, epoch, now=at(epoch_settles_at(epoch, P)),
                                        params=P)  # fmt: skip
        again = slashing.evaluate_epoch(
            conn, epoch + 1, now=at(epoch_settles_at(epoch + 1, P)), params=P
        )
    under = [p for p in first if p.kind == "under_stake"]
    assert len(under) == 2 and {p.node_id for p in under} == {n.node_id for n in nodes}
    assert all(p.slash_base_units == 0 and p.status == "warning" for p in under)
    assert [p for p in again if p.kind == "under_stake"] == []
    assert slash_transfers(engine) == []


def test_penalties_of_one_provider_decided_together_see_each_others_holds(
    engine: Engine,
) -> None:
    """Issue 10 point 13: an epoch's penalties are decided in one batch. Two nodes of one
    provider slashed in the same evaluation take the rewards first in node order, the second
    only what the first left, then stake: as if decided one at a time, never overdrawn."""
    nodes = make_fleet(engine, 10, params=P)  # 2 of 10 down is 20%: not an outage
    epoch = future_epoch(P)
    provider = nodes[0].provider_id
    bond(engine, nodes, at(epoch * 60 - 2), swarm=1_000_000)
    slash = 1_000_000 * SWARM // 1000  # second offence: 0.1% of the stake at risk
    give_rewards(engine, provider, slash * 3 // 2, epoch * 60 - 1)
    downed = sorted(n.node_id for n in nodes[:2])
    off = lambda n, k: None if n.node_id in downed else {}  # noqa: E731
    send_epoch(engine, nodes, epoch, P, off)
    send_epoch(engine, nodes, epoch + 1, P, off)
    assert [p.status for p in evaluate(engine, epoch, settled(epoch + 1))] == ["warning"] * 2
    first, second = sorted(evaluate(engine, epoch + 1), key=lambda p: p.node_id)
    assert [first.node_id, second.node_id] == downed
    with engine.connect() as conn:  # the rows returned are the rows stored
        assert [slashing.get_penalty(conn, p.id) for p in (first, second)] == [first, second]
    assert first.stake_at_risk_base_units == second.stake_at_risk_base_units == 1_000_000 * SWARM
    assert (first.from_rewards_base_units, first.from_stake_base_units) == (slash, 0)
    assert (second.from_rewards_base_units, second.from_stake_base_units) == (
        slash // 2,
        slash // 2,
    )
    after = counters(engine, provider)
    assert available(after, provider, "rewards_accrued") == 0
    assert available(after, provider, "stake_bonded") == 1_000_000 * SWARM - slash // 2
    assert after[("system", "slash_escrow")][2] == 2 * slash
    assert ledger_ok(engine)
