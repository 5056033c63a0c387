"""Unit tests of the slashing matrix (SPEC 6) as implemented in ledger.slashing.domain and the
stake rules of ledger.staking.domain: every row and ladder rung with exact amounts, rewards
first, the exact split of slashed funds, waivers, ids, grace, standing and appeals."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ledger.kit.money import BASE_UNITS_PER_SWARM
from ledger.params.domain import DEFAULT_PARAMS, ParameterSet
from ledger.slashing.domain import (
    AppealStatus,
    NodeStanding,
    Penalty,
    RecoveryPath,
    SlashingError,
    SlashStatus,
    StandingStatus,
    UnjailRequirement,
    Violation,
    ViolationClass,
    ViolationKind,
    WaiverReason,
    apply_penalty,
    approve_review,
    can_appeal,
    cast_vote,
    compliance_passed,
    correlated_outage_regions,
    count_offences,
    decide_appeal,
    decide_penalty,
    detect_performance_violations,
    detect_sybil,
    file_appeal,
    ladder_step,
    make_violation,
    new_standing,
    performance_offence,
    settle_penalty,
    split_slashed,
    standing_after_epoch,
    tick_epoch,
    under_stake_grace_ends_at_s,
    under_stake_rewards_eligible,
    void_penalty,
    waive_correlated_outages,
)
from ledger.staking.domain import (
    StakeLot,
    StakingError,
    apply_slash_to_lots,
    bonded_stake_base_units,
    is_under_staked,
    lock_expires_at_s,
    provider_required_stake_base_units,
    request_unbond,
    stake_at_risk,
    unbonding_period_s,
    withdraw,
    withdrawable,
)
from ledger.telemetry.domain import NodeEpochRollup

P = DEFAULT_PARAMS
SWARM = BASE_UNITS_PER_SWARM
STAKE = 12_345 * SWARM  # 12,345 SWARM = 12_345_000_000_000_000_000_000 base units
PROVIDER = "0x" + "ab" * 20
NODE = "node-1"
EPOCH = 480_000
T0 = EPOCH * 3_600  # start of the epoch
DECIDED = T0 + 3_900  # the slashing worker runs after the epoch closed
HOUR = 3_600
DAY = 86_400


def violation(kind: str, **kw: Any) -> Violation:
    kw.setdefault("evidence", {"report": f"{kind}-evidence"})
    kw.setdefault("node_id", NODE)
    return make_violation(
        kind,
        provider_id=PROVIDER,
        infraction_epoch=EPOCH,
        infraction_at_s=T0,
        **kw,
    )


def decide(
    v: Violation,
    *,
    prior_perf: int = 0,
    prior_malicious: int = 0,
    stake: int = STAKE,
    unclaimed: int = 0,
    epoch_reward: int = 0,
    params: ParameterSet = P,
    decided_at_s: int = DECIDED,
) -> Penalty:
    return decide_penalty(
        v,
        decided_at_s=decided_at_s,
        prior_poor_performance_offences_in_window=prior_perf,
        prior_malicious_count=prior_malicious,
        stake_at_risk_base_units=stake,
        unclaimed_rewards_base_units=unclaimed,
        epoch_reward_base_units=epoch_reward,
        params=params,
    )


def rollup(**kw: Any) -> NodeEpochRollup:
    base: dict[str, Any] = {
        "node_id": NODE,
        "epoch": EPOCH,
        "heartbeats_expected": 60,
        "heartbeats_received": 60,
        "heartbeats_up": 60,
        "heartbeats_excused": 0,
        "latency_p50_ms": 50,
        "jobs_ok": 100,
        "jobs_failed": 0,
        "gpu_util_ppm_sum": 0,
        "bandwidth_mbps_sum": 0,
        "rating_sum": 0,
        "rating_count": 0,
    }
    base.update(kw)
    return NodeEpochRollup(**base)


# --------------------------------------------------------------------------------------------
# The graduated ladder, for each poor-performance kind


# (prior offences, outcome, slash base units of 12,345 SWARM, reward multiplier, jail s,
#  governor review, unjail requirements, status after, standing after)
LADDER_ROWS = [
    (0, "warning", 0, 1_000_000, 0, False, (), StandingStatus.ACTIVE, 1_000_000),
    (
        1,
        "penalty",
        12_345_000_000_000_000_000,
        500_000,
        0,
        False,
        (),
        StandingStatus.ACTIVE,
        999_000,
    ),
    (
        2,
        "penalty",
        123_450_000_000_000_000_000,
        1_000_000,
        DAY,
        False,
        (),
        StandingStatus.JAILED,
        0,
    ),
    (
        3,
        "severe",
        617_250_000_000_000_000_000,
        1_000_000,
        7 * DAY,
        True,
        (UnjailRequirement.GOVERNOR_REVIEW,),
        StandingStatus.JAILED,
        0,
    ),
    (
        4,
        "severe",
        617_250_000_000_000_000_000,
        1_000_000,
        7 * DAY,
        True,
        (UnjailRequirement.GOVERNOR_REVIEW,),
        StandingStatus.JAILED,
        0,
    ),
]


@pytest.mark.parametrize(
    "kind", [ViolationKind.DOWNTIME, ViolationKind.ERROR_RATE, ViolationKind.LATENCY]
)
@pytest.mark.parametrize(
    ("prior", "outcome", "slash", "multiplier", "jail_s", "review", "reqs", "status", "standing"),
    LADDER_ROWS,
)
def test_ladder_row(
    kind: str,
    prior: int,
    outcome: str,
    slash: int,
    multiplier: int,
    jail_s: int,
    review: bool,
    reqs: tuple[str, ...],
    status: str,
    standing: int,
) -> None:
    p = decide(violation(kind), prior_perf=prior, epoch_reward=1_001)
    assert p.klass == ViolationClass.POOR_PERFORMANCE
    assert p.outcome == outcome
    assert p.offence_number == prior + 1
    assert p.slash_base_units == slash
    assert p.from_stake_base_units == slash  # no unclaimed rewards
    assert p.reward_multiplier_ppm == multiplier
    # 1_001 x 0.5 = 500.5 kept rounds down to 500, so 501 is withheld.
    assert p.reward_withheld_base_units == (501 if multiplier == 500_000 else 0)
    assert p.jail_s == jail_s
    assert p.jail == (jail_s > 0)
    assert p.jail_until_s == (DECIDED + jail_s if jail_s else None)
    assert p.governor_review_required is review
    assert p.unjail_requirements == reqs
    assert p.recovery_path == RecoveryPath.AUTOMATIC_UNJAIL
    assert p.tombstone is False
    assert p.appeal_deadline_s == DECIDED + 48 * HOUR
    assert p.insurance_base_units + p.treasury_base_units + p.burn_base_units == slash
    assert f"offence {prior + 1}" in p.rule and kind in p.rule and str(slash) in p.rule
    after = apply_penalty(new_standing(NODE), p, DECIDED)
    assert after.status == status
    assert after.standing_ppm == standing
    assert after.unjail_requirements == reqs


def test_ladder_step_lookup() -> None:
    assert ladder_step(0, P).label == "warning"
    assert ladder_step(1, P).stake_slash_ppm == 1_000
    assert ladder_step(2, P).jail_s == DAY
    assert ladder_step(3, P).governor_review_required
    assert ladder_step(50, P) == ladder_step(3, P)


def test_slash_rounds_down() -> None:
    # 1% of 12,345 base units is 123.45: 123. 0.1% of 999 is 0.999: 0.
    assert (
        decide(violation(ViolationKind.DOWNTIME), prior_perf=2, stake=12_345).slash_base_units
        == 123
    )
    assert decide(violation(ViolationKind.DOWNTIME), prior_perf=1, stake=999).slash_base_units == 0


def test_count_offences_rolling_window() -> None:
    window = 30 * DAY
    now = 100 * DAY
    history = [
        (now - window, True),  # exactly 30 days old: out of the window
        (now - window + 1, True),
        (now - DAY, False),  # waived or voided: not counted
        (now, True),
        (now + 1, True),  # after now: ignored
    ]
    assert count_offences(history, now, window) == 2
    assert count_offences([], now, window) == 0


# --------------------------------------------------------------------------------------------
# Security, malicious and protocol rows


# (kind, extra violation fields, prior malicious, fraction ppm, slash, tombstone, recovery, reqs)
MATRIX_ROWS = [
    (ViolationKind.SECURITY_BREACH, {"severity": "minor"}, 0, 50_000, 617_250 * 10**15, False,
     RecoveryPath.SECURITY_REVIEW, (UnjailRequirement.SECURITY_REVIEW,)),
    (ViolationKind.SECURITY_BREACH, {"severity": "major"}, 0, 200_000, 2_469 * SWARM, False,
     RecoveryPath.SECURITY_REVIEW, (UnjailRequirement.SECURITY_REVIEW,)),
    (ViolationKind.SECURITY_BREACH, {"severity": "critical"}, 0, 1_000_000, STAKE, True,
     RecoveryPath.NONE, ()),
    (ViolationKind.MALICIOUS_ACTIVITY, {}, 0, 200_000, 2_469 * SWARM, False,
     RecoveryPath.SECURITY_REVIEW, (UnjailRequirement.SECURITY_REVIEW,)),
    (ViolationKind.MALICIOUS_ACTIVITY, {}, 1, 200_000, 2_469 * SWARM, True, RecoveryPath.NONE, ()),
    (ViolationKind.DUPLICATE_HARDWARE, {"duplicate_count": 1}, 0, 50_000, 617_250 * 10**15, False,
     RecoveryPath.COMPLIANCE_VERIFICATION, (UnjailRequirement.COMPLIANCE_VERIFICATION,)),
    (ViolationKind.DUPLICATE_HARDWARE, {"duplicate_count": 3}, 0, 150_000, 1_851_750 * 10**15,
     False,
     RecoveryPath.COMPLIANCE_VERIFICATION, (UnjailRequirement.COMPLIANCE_VERIFICATION,)),
    (ViolationKind.DUPLICATE_HARDWARE, {"duplicate_count": 30}, 0, 1_000_000, STAKE, False,
     RecoveryPath.COMPLIANCE_VERIFICATION, (UnjailRequirement.COMPLIANCE_VERIFICATION,)),
    (ViolationKind.RESOURCE_HOARDING, {"severity_units": 1}, 0, 10_000, 12_345 * 10**16, False,
     RecoveryPath.COMPLIANCE_VERIFICATION, ()),
    (ViolationKind.RESOURCE_HOARDING, {"severity_units": 7}, 0, 70_000, 86_415 * 10**16, False,
     RecoveryPath.COMPLIANCE_VERIFICATION, ()),
    (ViolationKind.RESOURCE_HOARDING, {"severity_units": 15}, 0, 100_000, 12_345 * 10**17, False,
     RecoveryPath.COMPLIANCE_VERIFICATION, ()),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "extra", "prior_malicious", "fraction", "slash", "tomb", "recovery", "reqs"),
    MATRIX_ROWS,
)
def test_matrix_row(
    kind: str,
    extra: dict[str, Any],
    prior_malicious: int,
    fraction: int,
    slash: int,
    tomb: bool,
    recovery: str,
    reqs: tuple[str, ...],
) -> None:
    p = decide(violation(kind, **extra), prior_malicious=prior_malicious)
    assert p.slash_fraction_ppm == fraction
    assert p.slash_base_units == slash
    assert p.tombstone is tomb
    assert p.recovery_path == recovery
    assert p.unjail_requirements == reqs
    assert p.reward_multiplier_ppm == 1_000_000
    jailed = kind != ViolationKind.RESOURCE_HOARDING
    assert p.jail is jailed
    assert p.jail_until_s is None  # jail until a review / compliance check, or for good
    if kind in (ViolationKind.SECURITY_BREACH, ViolationKind.MALICIOUS_ACTIVITY):
        assert p.klass == ViolationClass.SECURITY_BREACH and p.outcome == "immediate"
    else:
        assert p.klass == ViolationClass.PROTOCOL_VIOLATION and p.outcome == "scaled"
    after = apply_penalty(new_standing(NODE), p, DECIDED)
    expected_status = (
        StandingStatus.TOMBSTONED
        if tomb
        else StandingStatus.JAILED
        if jailed
        else StandingStatus.ACTIVE
    )
    assert after.status == expected_status
    if kind == ViolationKind.RESOURCE_HOARDING:
        assert after.standing_ppm == 1_000_000 - fraction  # penalty standing: 1 - severity


def test_sybil_cap_from_params() -> None:
    capped = dataclasses.replace(
        P, slashing=dataclasses.replace(P.slashing, sybil_slash_max_ppm=120_000)
    )
    p = decide(violation(ViolationKind.DUPLICATE_HARDWARE, duplicate_count=3), params=capped)
    assert p.slash_fraction_ppm == 120_000
    assert "capped at 12%" in p.rule


@pytest.mark.parametrize(
    ("decided_at_s", "eligible", "multiplier"),
    [(T0, True, 1_000_000), (T0 + DAY - 1, True, 1_000_000), (T0 + DAY, False, 0)],
)
def test_under_stake_no_slash_and_grace(decided_at_s: int, eligible: bool, multiplier: int) -> None:
    p = decide(violation(ViolationKind.UNDER_STAKE), decided_at_s=decided_at_s, epoch_reward=10)
    assert p.slash_base_units == 0 and p.jail is False and p.tombstone is False
    assert p.rewards_eligible is eligible
    assert p.reward_multiplier_ppm == multiplier
    assert p.reward_withheld_base_units == (0 if eligible else 10)
    assert p.recovery_path == RecoveryPath.COMPLIANCE_VERIFICATION
    assert apply_penalty(new_standing(NODE), p, decided_at_s) == new_standing(NODE)


def test_under_stake_grace_boundaries() -> None:
    first = 1_000
    assert under_stake_grace_ends_at_s(first, P) == first + DAY
    assert under_stake_rewards_eligible(None, 10**9, P)
    assert under_stake_rewards_eligible(first, first, P)
    assert under_stake_rewards_eligible(first, first + DAY - 1, P)
    assert not under_stake_rewards_eligible(first, first + DAY, P)
    assert not under_stake_rewards_eligible(first, first + 10 * DAY, P)


# --------------------------------------------------------------------------------------------
# Rewards first and the split of slashed funds


@pytest.mark.parametrize(
    ("unclaimed", "from_rewards", "from_stake"),
    [
        (0, 0, 617_250 * 10**15),
        (100 * SWARM, 100 * SWARM, 517_250 * 10**15),
        (617_250 * 10**15, 617_250 * 10**15, 0),
        (10**30, 617_250 * 10**15, 0),
    ],
)
def test_rewards_first(unclaimed: int, from_rewards: int, from_stake: int) -> None:
    p = decide(violation(ViolationKind.SECURITY_BREACH, severity="minor"), unclaimed=unclaimed)
    assert p.slash_base_units == 617_250 * 10**15
    assert (p.from_rewards_base_units, p.from_stake_base_units) == (from_rewards, from_stake)


@pytest.mark.parametrize(
    ("amount", "insurance", "treasury", "burn"),
    [
        (617_250 * 10**15, 308_625 * 10**15, 185_175 * 10**15, 123_450 * 10**15),
        (0, 0, 0, 0),
        (1, 1, 0, 0),
        (7, 4, 2, 1),  # 3.5 / 2.1 / 1.4: floors 3 / 2 / 1, the remainder 1 to insurance
        (123, 63, 36, 24),  # 61.5 / 36.9 / 24.6: floors 61 / 36 / 24, remainder 2 to insurance
        (10, 5, 3, 2),
    ],
)
def test_split_exact(amount: int, insurance: int, treasury: int, burn: int) -> None:
    s = split_slashed(amount, P)
    assert (s.insurance_base_units, s.treasury_base_units, s.burn_base_units) == (
        insurance,
        treasury,
        burn,
    )
    assert s.insurance_base_units + s.treasury_base_units + s.burn_base_units == amount


def test_penalty_carries_split_with_remainder() -> None:
    p = decide(violation(ViolationKind.DOWNTIME), prior_perf=2, stake=12_345)
    assert p.slash_base_units == 123
    assert (p.insurance_base_units, p.treasury_base_units, p.burn_base_units) == (63, 36, 24)
    assert p.split.amount_base_units == 123


# --------------------------------------------------------------------------------------------
# Violation ids and evidence


def test_same_evidence_same_id() -> None:
    a = violation(ViolationKind.SECURITY_BREACH, severity="major", evidence={"a": "1", "b": "2"})
    b = violation(
        ViolationKind.SECURITY_BREACH, severity="major", evidence=[("b", "2"), ("a", "1")]
    )
    assert a.violation_id == b.violation_id and a.evidence_digest == b.evidence_digest
    # Re-reported with another severity: still the same incident.
    c = violation(ViolationKind.SECURITY_BREACH, severity="minor", evidence={"a": "1", "b": "2"})
    assert c.violation_id == a.violation_id
    assert decide(a).penalty_id == decide(c).penalty_id
    # Other evidence, node, epoch or kind: another incident.
    assert violation(
        ViolationKind.SECURITY_BREACH, severity="major", evidence={"a": "1"}
    ).violation_id != (a.violation_id)
    other_node = violation(
        ViolationKind.SECURITY_BREACH,
        severity="major",
        evidence={"a": "1", "b": "2"},
        node_id="node-2",
    )
    assert other_node.violation_id != a.violation_id
    assert violation(
        ViolationKind.MALICIOUS_ACTIVITY, evidence={"a": "1", "b": "2"}
    ).violation_id != (a.violation_id)
    assert len(a.violation_id) == 64 and int(a.violation_id, 16) >= 0


def test_violation_refuses_forged_id_and_bad_fields() -> None:
    v = violation(ViolationKind.DOWNTIME)
    with pytest.raises(SlashingError) as exc:
        dataclasses.replace(v, violation_id="0" * 64)
    assert exc.value.code == "id_mismatch"
    with pytest.raises(SlashingError):
        dataclasses.replace(v, evidence=(("x", "y"),))
    with pytest.raises(SlashingError):
        violation(ViolationKind.SECURITY_BREACH)  # severity required
    with pytest.raises(SlashingError):
        violation(ViolationKind.SECURITY_BREACH, severity="apocalyptic")
    with pytest.raises(SlashingError):
        violation(ViolationKind.DOWNTIME, severity="minor")
    with pytest.raises(SlashingError):
        violation(ViolationKind.RESOURCE_HOARDING)  # severity units required
    with pytest.raises(SlashingError):
        violation(ViolationKind.DUPLICATE_HARDWARE, duplicate_count=0)
    with pytest.raises(SlashingError) as exc:
        violation(ViolationKind.DOWNTIME, evidence={})
    assert exc.value.code == "evidence_empty"
    with pytest.raises(SlashingError) as exc:
        violation(ViolationKind.DOWNTIME, evidence=[("a", "1"), ("a", "2")])
    assert exc.value.code == "evidence_duplicate_key"
    with pytest.raises(SlashingError):
        violation("littering")


# --------------------------------------------------------------------------------------------
# Detection from telemetry


def kinds(r: NodeEpochRollup, target_ms: int = 100) -> list[str]:
    return [
        v.kind for v in detect_performance_violations(r, target_ms, P, T0, provider_id=PROVIDER)
    ]


def test_detect_downtime_threshold_and_maintenance() -> None:
    assert kinds(rollup(heartbeats_up=54)) == []  # exactly 90%
    assert kinds(rollup(heartbeats_up=53)) == [ViolationKind.DOWNTIME]
    # 45 up of 60: 75%, down; with 10 excused, 45 of 50 counted: 90%, not down.
    assert kinds(rollup(heartbeats_up=45, heartbeats_received=45)) == [ViolationKind.DOWNTIME]
    assert kinds(rollup(heartbeats_up=45, heartbeats_received=45, heartbeats_excused=10)) == []
    # A whole epoch of declared maintenance is not downtime.
    assert kinds(rollup(heartbeats_up=0, heartbeats_received=0, heartbeats_excused=60)) == []


def test_detect_error_rate_and_latency_thresholds() -> None:
    assert kinds(rollup(jobs_ok=90, jobs_failed=10)) == []  # exactly 10%
    assert kinds(rollup(jobs_ok=89, jobs_failed=11)) == [ViolationKind.ERROR_RATE]
    assert kinds(rollup(jobs_ok=0, jobs_failed=0)) == []  # no jobs, no error rate
    assert kinds(rollup(latency_p50_ms=500)) == []  # exactly 5x the 100 ms target
    assert kinds(rollup(latency_p50_ms=501)) == [ViolationKind.LATENCY]
    assert kinds(rollup(latency_p50_ms=51), target_ms=10) == [ViolationKind.LATENCY]
    assert kinds(rollup(latency_p50_ms=None)) == []


def test_detection_is_deterministic_and_one_offence_per_epoch() -> None:
    r = rollup(heartbeats_up=10, jobs_ok=1, jobs_failed=9, latency_p50_ms=10_000)
    first = detect_performance_violations(r, 100, P, T0, provider_id=PROVIDER)
    again = detect_performance_violations(r, 100, P, T0, provider_id=PROVIDER)
    assert [v.kind for v in first] == [
        ViolationKind.DOWNTIME,
        ViolationKind.ERROR_RATE,
        ViolationKind.LATENCY,
    ]
    assert first == again
    assert first[0].infraction_at_s == T0 and first[0].infraction_epoch == EPOCH
    assert first[0].evidence_dict["uptime_ppm"] == "166666"
    offence = performance_offence(list(reversed(first)))
    assert offence is not None and offence.kind == ViolationKind.DOWNTIME
    assert performance_offence(first[1:]) == first[1]
    assert performance_offence([]) is None


def test_detect_sybil_original_is_earliest_registered() -> None:
    fingerprints = {"n-a": "f" * 16, "n-b": "f" * 16, "n-c": "f" * 16, "n-d": "e" * 16}
    registered = {"n-a": 7_300, "n-b": 3_700, "n-c": 3_700, "n-d": 1}
    provider_of = {n: PROVIDER for n in fingerprints}
    found = detect_sybil(
        fingerprints, registered_at_s=registered, provider_of=provider_of, params=P
    )
    # n-b and n-c registered first; the tie goes to the smaller id, n-b is the original.
    assert [v.node_id for v in found] == ["n-a", "n-c"]
    assert all(v.evidence_dict["original_node_id"] == "n-b" for v in found)
    assert [v.infraction_epoch for v in found] == [2, 1]  # 7_300 // 3_600, 3_700 // 3_600
    assert all(v.duplicate_count == 1 for v in found)
    # Detected again next epoch: the same incidents.
    again = detect_sybil(
        dict(reversed(list(fingerprints.items()))),
        registered_at_s=registered,
        provider_of=provider_of,
        params=P,
    )
    assert [v.violation_id for v in again] == [v.violation_id for v in found]
    assert decide(found[0]).slash_base_units == 617_250 * 10**15


# --------------------------------------------------------------------------------------------
# Correlated outages


REGION_OF = {f"eu-{i}": "eu-west" for i in range(10)} | {f"us-{i}": "us-east" for i in range(5)}
ACTIVE = {"eu-west": 10, "us-east": 5}


def downtime_of(node_id: str) -> Violation:
    return violation(ViolationKind.DOWNTIME, node_id=node_id)


@pytest.mark.parametrize(
    ("down_eu", "down_us", "regions"),
    [
        (2, 0, set()),  # exactly 20% of 10: not an outage
        (3, 0, {"eu-west"}),  # 30%: outage
        (0, 1, set()),  # exactly 20% of 5
        (0, 2, {"us-east"}),
        (3, 2, {"eu-west", "us-east"}),
    ],
)
def test_correlated_outage_threshold(down_eu: int, down_us: int, regions: set[str]) -> None:
    down = [f"eu-{i}" for i in range(down_eu)] + [f"us-{i}" for i in range(down_us)]
    assert correlated_outage_regions(REGION_OF, down, ACTIVE, P) == regions


def test_correlated_outage_needs_probe_agreement_when_given() -> None:
    down = ["eu-0", "eu-1", "eu-2"]
    assert correlated_outage_regions(REGION_OF, down, ACTIVE, P) == {"eu-west"}
    assert (
        correlated_outage_regions(REGION_OF, down, ACTIVE, P, probe_confirmed_regions=set())
        == set()
    )


def test_waiver_only_for_downtime() -> None:
    down = [downtime_of(f"eu-{i}") for i in range(3)]
    security = violation(ViolationKind.SECURITY_BREACH, severity="critical", node_id="eu-0")
    malicious = violation(ViolationKind.MALICIOUS_ACTIVITY, node_id="eu-1")
    hoarding = violation(ViolationKind.RESOURCE_HOARDING, severity_units=2, node_id="eu-2")
    errors = violation(ViolationKind.ERROR_RATE, node_id="eu-0")
    us_down = downtime_of("us-0")  # 1 of 5 in us-east: exactly 20%, stands
    kept, waived = waive_correlated_outages(
        [*down, security, malicious, hoarding, errors, us_down], REGION_OF, ACTIVE, P
    )
    assert kept == [security, malicious, hoarding, errors, us_down]
    assert [w.violation for w in waived] == down
    w = waived[0]
    assert (w.reason, w.region, w.down_count, w.active_count, w.threshold_ppm) == (
        WaiverReason.CORRELATED_OUTAGE,
        "eu-west",
        3,
        10,
        200_000,
    )
    assert dict(w.evidence)["down_count"] == "3"


def test_waiver_refuses_inconsistent_counts() -> None:
    with pytest.raises(SlashingError):
        correlated_outage_regions(REGION_OF, ["eu-0", "eu-1"], {"eu-west": 1}, P)
    with pytest.raises(SlashingError):
        correlated_outage_regions(REGION_OF, ["mars-1"], ACTIVE, P)


# --------------------------------------------------------------------------------------------
# Standing, jails and recovery


def jailed_by(prior_perf: int) -> tuple[NodeStanding, Penalty]:
    p = decide(violation(ViolationKind.DOWNTIME), prior_perf=prior_perf)
    return apply_penalty(new_standing(NODE), p, DECIDED), p


def test_restoration_steps_after_a_jail() -> None:
    s, p = jailed_by(2)
    assert p.jail_until_s == DECIDED + DAY
    s = tick_epoch(s, False, DECIDED + DAY - 1, P)
    assert s.status == StandingStatus.JAILED
    s = tick_epoch(s, False, DECIDED + DAY, P)  # automatic unjail
    assert (s.status, s.standing_ppm, s.restoration_step) == (StandingStatus.ACTIVE, 250_000, 1)
    s = tick_epoch(s, False, DECIDED + DAY + HOUR, P)  # not clean: holds
    assert s.standing_ppm == 250_000
    seen = []
    for i in range(4):
        s = tick_epoch(s, True, DECIDED + DAY + (i + 2) * HOUR, P)
        seen.append((s.standing_ppm, s.restoration_step))
    assert seen == [(500_000, 2), (750_000, 3), (1_000_000, 0), (1_000_000, 0)]


def test_standing_after_epoch() -> None:
    assert standing_after_epoch(250_000, True, P) == 500_000
    assert standing_after_epoch(250_000, False, P) == 250_000
    assert standing_after_epoch(999_000, True, P) == 1_000_000
    assert standing_after_epoch(0, True, P) == 250_000
    assert standing_after_epoch(1_000_000, True, P) == 1_000_000


def test_severe_rung_needs_time_and_governor_review() -> None:
    s, _ = jailed_by(3)
    assert s.unjail_requires == UnjailRequirement.GOVERNOR_REVIEW
    late = DECIDED + 7 * DAY
    assert tick_epoch(s, True, late, P).status == StandingStatus.JAILED  # time served, no review
    early = approve_review(s, DECIDED + HOUR, P)  # review first, time not served
    assert early.status == StandingStatus.JAILED and early.unjail_requires is None
    assert tick_epoch(early, True, late - 1, P).status == StandingStatus.JAILED
    assert tick_epoch(early, True, late, P).standing_ppm == 250_000
    assert approve_review(s, late, P).status == StandingStatus.ACTIVE  # both at once


def test_security_breach_needs_review_and_sybil_needs_compliance() -> None:
    sec = decide(violation(ViolationKind.SECURITY_BREACH, severity="major"))
    s = apply_penalty(new_standing(NODE), sec, DECIDED)
    assert s.unjail_requires == UnjailRequirement.SECURITY_REVIEW
    assert tick_epoch(s, True, DECIDED + 365 * DAY, P).status == StandingStatus.JAILED
    assert compliance_passed(s, DECIDED + 1, P).status == StandingStatus.JAILED
    released = approve_review(s, DECIDED + 1, P)
    assert (released.status, released.standing_ppm) == (StandingStatus.ACTIVE, 250_000)

    sybil = decide(violation(ViolationKind.DUPLICATE_HARDWARE, duplicate_count=1))
    s = apply_penalty(new_standing(NODE), sybil, DECIDED)
    assert s.unjail_requires == UnjailRequirement.COMPLIANCE_VERIFICATION
    assert approve_review(s, DECIDED + 1, P).status == StandingStatus.JAILED
    assert compliance_passed(s, DECIDED + 1, P).status == StandingStatus.ACTIVE

    # Both at once: both checks are needed.
    s = apply_penalty(apply_penalty(new_standing(NODE), sybil, DECIDED), sec, DECIDED)
    assert s.unjail_requirements == (
        UnjailRequirement.SECURITY_REVIEW,
        UnjailRequirement.COMPLIANCE_VERIFICATION,
    )
    assert approve_review(s, DECIDED, P).status == StandingStatus.JAILED
    assert (
        compliance_passed(approve_review(s, DECIDED, P), DECIDED, P).status == StandingStatus.ACTIVE
    )


def test_tombstone_never_returns() -> None:
    p = decide(violation(ViolationKind.SECURITY_BREACH, severity="critical"))
    s = apply_penalty(new_standing(NODE), p, DECIDED)
    assert s.tombstoned and s.standing_ppm == 0
    later = decide(violation(ViolationKind.DOWNTIME), prior_perf=2)
    for after in (
        tick_epoch(s, True, DECIDED + 365 * DAY, P),
        approve_review(s, DECIDED, P),
        compliance_passed(s, DECIDED, P),
        apply_penalty(s, later, DECIDED),
    ):
        assert after.status == StandingStatus.TOMBSTONED


def test_repeat_jail_keeps_later_bound() -> None:
    s, _ = jailed_by(3)  # 7 d + review
    third = decide(violation(ViolationKind.ERROR_RATE), prior_perf=2, decided_at_s=DECIDED + HOUR)
    s = apply_penalty(s, third, DECIDED + HOUR)  # 24 h from later: shorter than 7 d
    assert s.jailed_until_s == DECIDED + 7 * DAY
    assert s.unjail_requirements == (UnjailRequirement.GOVERNOR_REVIEW,)


def test_void_restores_standing_and_keeps_other_history() -> None:
    start = new_standing(NODE)
    s, p = jailed_by(2)
    assert void_penalty(s, p, DECIDED + HOUR) == start
    # A penalty voided after the node was released and climbing: back to good standing.
    s = tick_epoch(s, True, DECIDED + DAY, P)
    s = tick_epoch(s, True, DECIDED + DAY + HOUR, P)
    assert s.standing_ppm == 500_000
    assert void_penalty(s, p, DECIDED + DAY + HOUR) == start
    # Two open penalties; voiding the first keeps the second in force.
    hoard = decide(violation(ViolationKind.RESOURCE_HOARDING, severity_units=5))
    both = apply_penalty(apply_penalty(start, p, DECIDED), hoard, DECIDED)
    only_hoard = void_penalty(both, p, DECIDED + 1)
    assert only_hoard == apply_penalty(start, hoard, DECIDED)
    assert only_hoard.standing_ppm == 950_000
    assert void_penalty(only_hoard, hoard, DECIDED + 2) == start


def test_settled_penalty_cannot_be_voided() -> None:
    s, p = jailed_by(2)
    settled = settle_penalty(s, p.penalty_id)
    assert settled.open_penalty_ids == () and settled.log == () and settled.status == "jailed"
    with pytest.raises(SlashingError) as exc:
        void_penalty(settled, p, DECIDED)
    assert exc.value.code == "penalty_not_open"
    # A warning never touched the standing: voiding it is a no-op.
    warning = decide(violation(ViolationKind.LATENCY))
    assert void_penalty(new_standing(NODE), warning, DECIDED) == new_standing(NODE)


def test_apply_is_idempotent_per_penalty_id() -> None:
    s, p = jailed_by(2)
    assert apply_penalty(s, p, DECIDED + 5) == s


def test_apply_refuses_other_node() -> None:
    _, p = jailed_by(2)
    with pytest.raises(SlashingError):
        apply_penalty(new_standing("node-2"), p, DECIDED)


# --------------------------------------------------------------------------------------------
# Appeals


def test_can_appeal_until_deadline_and_only_pending_sanctions() -> None:
    p = decide(violation(ViolationKind.SECURITY_BREACH, severity="minor"))
    assert can_appeal(p, DECIDED)
    assert can_appeal(p, p.appeal_deadline_s - 1)
    assert not can_appeal(p, p.appeal_deadline_s)
    assert not can_appeal(p, DECIDED, slash_status=SlashStatus.EXECUTED)
    assert not can_appeal(decide(violation(ViolationKind.DOWNTIME)), DECIDED)  # a warning: nothing
    with pytest.raises(SlashingError):
        file_appeal(p, p.appeal_deadline_s, {"logs": "sha256:00"})


@pytest.mark.parametrize(
    ("votes", "outcome"),
    [
        ({}, AppealStatus.OPEN),
        ({"g1": "void"}, AppealStatus.OPEN),
        ({"g1": "void", "g2": "void"}, AppealStatus.VOIDED),
        ({"g1": "uphold", "g2": "uphold", "g3": "void"}, AppealStatus.UPHELD),
        ({"g1": "uphold", "g2": "void"}, AppealStatus.OPEN),
    ],
)
def test_decide_appeal_quorum(votes: dict[str, str], outcome: str) -> None:
    assert decide_appeal(votes, P.governance.quorum) == outcome


def test_decide_appeal_ignores_non_governors_and_bad_votes() -> None:
    votes = {"g1": "void", "stranger": "void"}
    assert decide_appeal(votes, 2) == AppealStatus.VOIDED
    assert decide_appeal(votes, 2, governors={"g1", "g2", "g3"}) == AppealStatus.OPEN
    with pytest.raises(SlashingError):
        decide_appeal({"g1": "maybe"}, 2)


def test_appeal_lifecycle() -> None:
    p = decide(violation(ViolationKind.DOWNTIME), prior_perf=2)
    appeal = file_appeal(p, DECIDED + HOUR, {"probe_report": "sha256:ab"})
    appeal = cast_vote(appeal, "g1", "void")
    assert cast_vote(appeal, "g1", "void") == appeal
    with pytest.raises(SlashingError) as exc:
        cast_vote(appeal, "g1", "uphold")
    assert exc.value.code == "vote_already_cast"
    assert appeal.outcome(2) == AppealStatus.OPEN
    assert cast_vote(appeal, "g2", "void").outcome(2) == AppealStatus.VOIDED


# --------------------------------------------------------------------------------------------
# Staking: lots, unbonding, stake at risk, who pays


def lot(amount: int, bonded_at_s: int = 0, **kw: Any) -> StakeLot:
    return StakeLot(
        provider_id=PROVIDER,
        amount_base_units=amount,
        lock_tier="flexible",
        bonded_at_s=bonded_at_s,
        **kw,
    )


def test_unbonding_lifecycle() -> None:
    period = unbonding_period_s("gaming_pc", P)
    assert period == 7 * DAY
    a = request_unbond(lot(100), 1_000, period)
    assert (a.status, a.withdrawable_at_s) == ("unbonding", 1_000 + 7 * DAY)
    assert not withdrawable(a, 1_000 + 7 * DAY - 1)
    assert withdrawable(a, 1_000 + 7 * DAY)
    with pytest.raises(StakingError):
        withdraw(a, 1_000 + 7 * DAY - 1)
    w = withdraw(a, 1_000 + 7 * DAY)
    assert w.status == "withdrawn" and not withdrawable(w, 10**9)
    with pytest.raises(StakingError) as exc:
        request_unbond(a, 2_000, period)
    assert exc.value.code == "already_unbonding"
    locked = StakeLot(provider_id=PROVIDER, amount_base_units=1, lock_tier="90d", bonded_at_s=0)
    assert lock_expires_at_s(locked, P) == 90 * DAY
    with pytest.raises(StakingError) as exc:
        request_unbond(locked, DAY, period, lock_expires_at_s=lock_expires_at_s(locked, P))
    assert exc.value.code == "lock_not_expired"


def test_stake_at_risk_rule() -> None:
    """SPEC 5/6 (issue 15, point 11): stake that started unbonding after the infraction is at
    risk, stake that started unbonding before it is not, nor is stake bonded at or after it."""
    t = 10_000
    lots = [
        lot(1, bonded_at_s=t - 1),  # bonded before the infraction: at risk
        lot(64, bonded_at_s=t),  # bonded at the infraction instant: after it, not at risk
        lot(2, bonded_at_s=t + 1),  # bonded after: not at risk
        request_unbond(lot(4), t + 5, 100),  # unbonding requested after: at risk
        request_unbond(lot(128), t, 100),  # requested at the instant: still at risk
        request_unbond(lot(8), t - 5, 100),  # unbonding before, still queued at t: NOT at risk
        withdraw(request_unbond(lot(16), 0, 10), t),  # withdrawn before: not at risk
        withdraw(request_unbond(lot(32), t + 10, 10), t + 50),  # unbonded after t, withdrawn
    ]
    assert stake_at_risk(lots, t) == 1 + 4 + 128 + 32
    # What can still be collected at t + 60 excludes the lot that has left since.
    assert stake_at_risk(lots, t, as_of_s=t + 60) == 1 + 4 + 128
    # Required-stake checks count bonded, not unbonding, stake (a lot counts from its bond
    # time, and stops counting at its request time).
    assert bonded_stake_base_units(lots, t) == 1 + 64 + 4 + 32
    assert bonded_stake_base_units(lots, t + 5) == 1 + 64 + 2 + 32


def test_apply_slash_bonded_first_then_unbonding_oldest_first() -> None:
    bonded = [lot(10, lot_id="a"), lot(20, lot_id="b"), lot(30, lot_id="c")]
    late = request_unbond(lot(5, lot_id="late"), 2_000, 100)
    early = request_unbond(lot(7, lot_id="early"), 1_500, 100)
    before = request_unbond(lot(99, lot_id="before"), 500, 100)  # not at risk for t = 1,000
    lots = [*bonded, late, early, before]
    paid = apply_slash_to_lots(lots, 7, 1_000, as_of_s=3_000)
    # Bonded first, pro rata: 7 x 10/60 = 1.17, x 20/60 = 2.33, x 30/60 = 3.5: floors 1 / 2 / 3,
    # one unit left for the largest remainder (c). No unbonding lot pays.
    assert [(x.lot_id, taken) for x, taken in paid] == [("a", 1), ("b", 2), ("c", 4)]
    # More than the bonded stake: the unbonding lots at risk pay the rest, oldest request first.
    paid = apply_slash_to_lots(lots, 64, 1_000, as_of_s=3_000)
    assert dict((x.lot_id, t) for x, t in paid) == {"a": 10, "b": 20, "c": 30, "early": 4}
    assert dict((x.lot_id, t) for x, t in apply_slash_to_lots(lots, 72, 1_000, as_of_s=3_000)) == {
        "a": 10,
        "b": 20,
        "c": 30,
        "early": 7,
        "late": 5,
    }
    assert apply_slash_to_lots(lots, 0, 1_000) == []
    with pytest.raises(StakingError) as exc:
        apply_slash_to_lots(lots, 73, 1_000, as_of_s=3_000)  # the lot unbonding before never pays
    assert exc.value.code == "slash_exceeds_stake_at_risk"


def test_under_stake_uses_registry_requirement() -> None:
    from ledger.registry.domain import HardwareProfile

    profile = HardwareProfile(
        gpus=4, gpu_class="h100", ram_gb=64, storage_tb=0, bandwidth_gbps=1, fingerprint="f" * 16
    )
    required = provider_required_stake_base_units([("gaming_pc", profile)], P)
    assert required == 2_000 * SWARM  # max(1,000, 4 x 500)
    assert is_under_staked([lot(1_999 * SWARM)], 10, required)
    assert not is_under_staked([lot(2_000 * SWARM)], 10, required)


def test_lot_validation() -> None:
    with pytest.raises(StakingError):
        lot(-1)
    with pytest.raises(StakingError):
        StakeLot(provider_id="alice", amount_base_units=1, lock_tier="flexible", bonded_at_s=0)
    with pytest.raises(StakingError):
        lot(1, withdrawn_at_s=5)  # withdrawn without unbonding


def test_error_rate_compares_the_exact_ratio() -> None:
    """Issue 15, point 7: 10.0001% failed jobs is above a 10% threshold, though it floors to
    exactly 100,000 ppm."""
    assert kinds(rollup(jobs_ok=900_000, jobs_failed=100_001)) == [ViolationKind.ERROR_RATE]
    assert kinds(rollup(jobs_ok=900_000, jobs_failed=100_000)) == []
    # Downtime compares the floored ppm with an integer threshold, which is exact.
    assert kinds(rollup(heartbeats_expected=1_000_000, heartbeats_received=899_999,
                        heartbeats_up=899_999)) == [ViolationKind.DOWNTIME]  # fmt: skip


def test_charge_stake_bonded_first_then_entries_at_risk_oldest_first() -> None:
    from ledger.staking.domain import UnbondingEntry, charge_stake

    entries = [
        UnbondingEntry("u:late", 2_000, 9_000, 50),
        UnbondingEntry("u:early", 1_500, 9_000, 30),
        UnbondingEntry("u:before", 500, 9_000, 1_000),  # requested before the infraction
    ]
    c = charge_stake(60, 40, entries, 1_000)
    assert (c.from_bonded_base_units, c.from_entries, c.uncollected_base_units) == (
        40, (("u:early", 20),), 0,
    )  # fmt: skip
    c = charge_stake(200, 40, entries, 1_000)
    assert c.from_entries == (("u:early", 30), ("u:late", 50)) and c.uncollected_base_units == 80


def test_unbonding_period_counts_nodes_deactivated_before_the_request() -> None:
    """Issue 15, point 8: a data-center node deactivated just before unbonding still sets 28 d;
    one deactivated more than 28 d before does not."""
    from ledger.staking.domain import unbonding_period_with_history

    now = 100 * DAY
    ran = [("dc", 0.0, "data_center", True), ("dc", now - DAY, "data_center", False),
           ("pc", 0.0, "gaming_pc", True)]  # fmt: skip
    assert unbonding_period_with_history(ran, now, P) == 28 * DAY
    long_ago = [("dc", 0.0, "data_center", True), ("dc", now - 29 * DAY, "data_center", False),
                ("pc", 0.0, "gaming_pc", True)]  # fmt: skip
    assert unbonding_period_with_history(long_ago, now, P) == 7 * DAY
    assert unbonding_period_with_history([], now, P) == 7 * DAY


def test_charge_stake_takes_entries_of_the_same_second_in_booking_order() -> None:
    """Ties are broken as the vault breaks them (the order the requests were made), not by
    comparing ids as text ("...:10" < "...:9")."""
    from ledger.staking.domain import UnbondingEntry, charge_stake

    entries = [
        UnbondingEntry("unbond:p:chain:9", 1_000, 2_000, 50),
        UnbondingEntry("unbond:p:chain:10", 1_000, 2_000, 50),
    ]
    c = charge_stake(50, 0, entries, 1_000)
    assert c.from_entries == (("unbond:p:chain:9", 50),)
