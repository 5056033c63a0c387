"""Property tests of the slashing domain: a slash never exceeds the stake at risk and always
splits exactly; the stake-at-risk rule for unbonding and withdrawn lots; lots pay a slash
exactly and never go negative; voiding a penalty is as if it had never been applied."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.kit.money import MAX_AMOUNT_BASE_UNITS, PPM
from ledger.params.domain import DEFAULT_PARAMS, ParameterSet
from ledger.slashing.domain import (
    NodeStanding,
    Penalty,
    StandingStatus,
    Violation,
    ViolationKind,
    apply_penalty,
    approve_review,
    compliance_passed,
    decide_penalty,
    make_violation,
    new_standing,
    settle_penalty,
    split_slashed,
    tick_epoch,
    void_penalty,
)
from ledger.staking.domain import (
    StakeLot,
    apply_slash_to_lots,
    is_at_risk,
    request_unbond,
    stake_at_risk,
    withdraw,
)
from tests.property.strategies import lots as shared_lots

P = DEFAULT_PARAMS
PROVIDER = "0x" + "cd" * 20
NODE = "node-7"
T0 = 1_700_000_000
AMOUNTS = st.integers(min_value=0, max_value=10**30)


@st.composite
def violations(draw: st.DrawFn) -> Violation:
    kind = draw(
        st.sampled_from(
            [
                ViolationKind.DOWNTIME,
                ViolationKind.ERROR_RATE,
                ViolationKind.LATENCY,
                ViolationKind.SECURITY_BREACH,
                ViolationKind.MALICIOUS_ACTIVITY,
                ViolationKind.UNDER_STAKE,
                ViolationKind.DUPLICATE_HARDWARE,
                ViolationKind.RESOURCE_HOARDING,
            ]
        )
    )
    extra: dict[str, Any] = {}
    if kind == ViolationKind.SECURITY_BREACH:
        extra["severity"] = draw(st.sampled_from(["minor", "major", "critical"]))
    if kind == ViolationKind.DUPLICATE_HARDWARE:
        extra["duplicate_count"] = draw(st.integers(min_value=1, max_value=50))
    if kind == ViolationKind.RESOURCE_HOARDING:
        extra["severity_units"] = draw(st.integers(min_value=1, max_value=30))
    return make_violation(
        kind,
        node_id=NODE,
        provider_id=PROVIDER,
        infraction_epoch=T0 // 3_600,
        infraction_at_s=T0,
        evidence={"n": str(draw(st.integers(min_value=0, max_value=10**6)))},
        **extra,
    )


@st.composite
def split_params(draw: st.DrawFn) -> ParameterSet:
    insurance = draw(st.integers(min_value=0, max_value=PPM))
    treasury = draw(st.integers(min_value=0, max_value=PPM - insurance))
    return dataclasses.replace(
        P,
        slashing=dataclasses.replace(
            P.slashing,
            split_insurance_ppm=insurance,
            split_treasury_ppm=treasury,
            split_burn_ppm=PPM - insurance - treasury,
        ),
    )


@settings(max_examples=300, deadline=None)
@given(
    v=violations(),
    prior_perf=st.integers(min_value=0, max_value=8),
    prior_malicious=st.integers(min_value=0, max_value=3),
    stake=AMOUNTS,
    unclaimed=AMOUNTS,
    epoch_reward=AMOUNTS,
    params=split_params(),
)
def test_slash_never_exceeds_stake_at_risk(
    v: Violation,
    prior_perf: int,
    prior_malicious: int,
    stake: int,
    unclaimed: int,
    epoch_reward: int,
    params: ParameterSet,
) -> None:
    p = decide_penalty(
        v,
        decided_at_s=T0 + 7_200,
        prior_poor_performance_offences_in_window=prior_perf,
        prior_malicious_count=prior_malicious,
        stake_at_risk_base_units=stake,
        unclaimed_rewards_base_units=unclaimed,
        epoch_reward_base_units=epoch_reward,
        params=params,
    )
    assert 0 <= p.slash_base_units <= stake
    assert p.slash_base_units * PPM <= stake * p.slash_fraction_ppm  # rounded down
    assert (p.slash_base_units + 1) * PPM > stake * p.slash_fraction_ppm
    assert p.from_rewards_base_units == min(p.slash_base_units, unclaimed)
    assert 0 <= p.from_stake_base_units <= stake
    assert p.from_rewards_base_units + p.from_stake_base_units == p.slash_base_units
    parts = (p.insurance_base_units, p.treasury_base_units, p.burn_base_units)
    assert min(parts) >= 0 and sum(parts) == p.slash_base_units
    assert 0 <= p.reward_withheld_base_units <= epoch_reward


@settings(max_examples=300, deadline=None)
@given(amount=st.integers(min_value=0, max_value=MAX_AMOUNT_BASE_UNITS), params=split_params())
def test_split_sums_exactly(amount: int, params: ParameterSet) -> None:
    s = split_slashed(amount, params)
    sl = params.slashing
    assert s.insurance_base_units + s.treasury_base_units + s.burn_base_units == amount
    assert s.treasury_base_units == amount * sl.split_treasury_ppm // PPM
    assert s.burn_base_units == amount * sl.split_burn_ppm // PPM
    # Insurance gets its floor plus the remainder units, fewer than the number of shares (3).
    floor_insurance = amount * sl.split_insurance_ppm // PPM
    assert floor_insurance <= s.insurance_base_units < floor_insurance + 3


def lots() -> st.SearchStrategy[StakeLot]:
    return shared_lots()


@settings(max_examples=300, deadline=None)
@given(
    bonded=st.integers(min_value=0, max_value=10_000),
    before=st.integers(min_value=0, max_value=10_000),
    after=st.integers(min_value=1, max_value=10_000),
    period=st.integers(min_value=0, max_value=10_000),
    amount=st.integers(min_value=1, max_value=10**24),
)
def test_unbonding_after_is_slashable_withdrawn_before_is_not(
    bonded: int, before: int, after: int, period: int, amount: int
) -> None:
    base = StakeLot(
        provider_id=PROVIDER, amount_base_units=amount, lock_tier="flexible", bonded_at_s=bonded
    )
    infraction = bonded + before
    infraction += 1  # the lot is bonded strictly before the infraction
    # Unbonding requested after the infraction (even withdrawable by now): still at risk.
    late = request_unbond(base, infraction + after, period)
    assert is_at_risk(late, infraction)
    assert stake_at_risk([late], infraction) == amount
    assert apply_slash_to_lots([late], amount, infraction) == [(late, amount)]
    # Unbonding requested before the infraction, even if still queued: not at risk (SPEC 5:
    # unbonding stake is slashable only for violations committed before the request).
    early = request_unbond(base, infraction - 1, before + after + period)
    assert stake_at_risk([early], infraction) == 0
    # Withdrawn at or before the infraction: not at risk, pays nothing.
    gone = withdraw(request_unbond(base, bonded, 0), infraction - 1)
    assert stake_at_risk([gone], infraction) == 0
    assert apply_slash_to_lots([gone, late], amount, infraction) == [(late, amount)]
    # Bonded at or after the infraction: not at risk.
    assert stake_at_risk([base], bonded) == 0


@settings(max_examples=300, deadline=None)
@given(
    lot_list=st.lists(lots(), max_size=12),
    infraction=st.integers(min_value=0, max_value=2_500),
    slash_ppm=st.integers(min_value=0, max_value=PPM),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_lots_pay_exactly_and_never_go_negative(
    lot_list: list[StakeLot], infraction: int, slash_ppm: int, seed: int
) -> None:
    total = stake_at_risk(lot_list, infraction)
    slash = total * slash_ppm // PPM
    paid = apply_slash_to_lots(lot_list, slash, infraction)
    assert sum(taken for _, taken in paid) == slash
    for lot, taken in paid:
        assert 0 < taken <= lot.amount_base_units
        assert is_at_risk(lot, infraction)
        # Pro rata: at most one unit above the floored share.
        assert taken - slash * lot.amount_base_units // total in (0, 1)
    # Independent of input order (as a multiset of (lot, amount)).
    shuffled = list(lot_list)
    random.Random(seed).shuffle(shuffled)
    again = apply_slash_to_lots(shuffled, slash, infraction)
    assert sorted(map(repr, again)) == sorted(map(repr, paid))


# --------------------------------------------------------------------------------------------
# Standing: voiding a penalty is as if it had never been applied


def _penalty(kind: str, prior_perf: int = 0, prior_malicious: int = 0, **extra: Any) -> Penalty:
    v = make_violation(
        kind,
        node_id=NODE,
        provider_id=PROVIDER,
        infraction_epoch=T0 // 3_600,
        infraction_at_s=T0,
        evidence={"case": f"{kind}-{prior_perf}-{prior_malicious}-{sorted(extra.items())}"},
        **extra,
    )
    return decide_penalty(
        v,
        decided_at_s=T0,
        prior_poor_performance_offences_in_window=prior_perf,
        prior_malicious_count=prior_malicious,
        stake_at_risk_base_units=10**22,
        unclaimed_rewards_base_units=0,
        epoch_reward_base_units=0,
        params=P,
    )


PENALTIES = [
    _penalty(ViolationKind.DOWNTIME, 0),  # warning
    _penalty(ViolationKind.DOWNTIME, 1),  # 0.1%
    _penalty(ViolationKind.ERROR_RATE, 2),  # 1% + 24 h
    _penalty(ViolationKind.LATENCY, 3),  # 5% + 7 d + review
    _penalty(ViolationKind.SECURITY_BREACH, severity="major"),
    _penalty(ViolationKind.SECURITY_BREACH, severity="critical"),  # tombstone
    _penalty(ViolationKind.MALICIOUS_ACTIVITY, prior_malicious=0),
    _penalty(ViolationKind.DUPLICATE_HARDWARE, duplicate_count=2),
    _penalty(ViolationKind.RESOURCE_HOARDING, severity_units=4),
]

OPS = st.one_of(
    st.tuples(st.just("apply"), st.integers(min_value=0, max_value=len(PENALTIES) - 1)),
    st.tuples(st.just("tick"), st.booleans(), st.integers(min_value=0, max_value=3 * 86_400)),
    st.tuples(st.just("review")),
    st.tuples(st.just("compliance")),
    st.tuples(st.just("settle"), st.integers(min_value=0, max_value=len(PENALTIES) - 1)),
)


def run(ops: list[tuple[Any, ...]], skip: int | None = None) -> tuple[NodeStanding, int]:
    """Run ``ops`` from a fresh node; skip the penalty ``skip`` (and never settle it).

    Like the ledger (one slash per incident, idempotent by id), each penalty is applied at
    most once: later applications of the same index are dropped.
    """
    state = new_standing(NODE)
    now = T0
    applied: set[int] = set()
    for op in ops:
        if op[0] == "apply" and op[1] != skip and op[1] not in applied:
            applied.add(op[1])
            state = apply_penalty(state, PENALTIES[op[1]], now)
        elif op[0] == "tick":
            now += op[2]
            state = tick_epoch(state, op[1], now, P)
        elif op[0] == "review":
            state = approve_review(state, now, P)
        elif op[0] == "compliance":
            state = compliance_passed(state, now, P)
        elif op[0] == "settle" and op[1] != skip:
            state = settle_penalty(state, PENALTIES[op[1]].penalty_id)
        assert 0 <= state.standing_ppm <= PPM
    return state, now


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(OPS, max_size=25), idx=st.integers(min_value=0, max_value=len(PENALTIES) - 1))
def test_apply_then_void_restores_state(ops: list[tuple[Any, ...]], idx: int) -> None:
    state, now = run(ops)
    p = PENALTIES[idx]
    if p.penalty_id in state.open_penalty_ids or any(
        e.penalty is not None and e.penalty.penalty_id == p.penalty_id for e in state.log
    ):
        return  # already applied and not yet forgotten: applying again is a no-op
    applied = apply_penalty(state, p, now)
    assert void_penalty(applied, p, now) == state


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(OPS, max_size=15),
    after=st.lists(OPS, max_size=15),
    idx=st.integers(min_value=0, max_value=len(PENALTIES) - 1),
)
def test_void_is_as_if_never_applied(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]], idx: int
) -> None:
    if ("apply", idx) in before or ("settle", idx) in after:
        return  # p applied earlier, or settled (no longer voidable): not this property
    ops = [*before, ("apply", idx), *after]
    with_p, now = run(ops)
    without_p, _ = run(ops, skip=idx)
    voided = void_penalty(with_p, PENALTIES[idx], now)
    assert voided.snapshot == without_p.snapshot
    assert voided == without_p


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(OPS, max_size=25))
def test_tombstone_is_absorbing(ops: list[tuple[Any, ...]]) -> None:
    state, _ = run([("apply", 5), *ops])  # 5: critical security breach
    assert state.status == StandingStatus.TOMBSTONED and state.standing_ppm == 0
