"""Unit tests of the reward epoch calculator: each score at its boundaries, eligibility, the
pool scaling, exact allocation, and the worked example of docs/rewards.md number by number."""

from __future__ import annotations

import ast
import dataclasses
import json
import time
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from ledger.params.domain import DEFAULT_PARAMS, ParameterSet, UnknownProviderTypeError
from ledger.rewards import domain as rewards
from ledger.rewards.domain import (
    CALCULATOR_VERSION,
    NetworkConditions,
    NodeRewardInput,
    RewardInputError,
    allocate_exact,
    compute_epoch,
    compute_pool_scale,
    demand_factor_ppm,
    eligibility_reasons,
    error_rate_score_ppm,
    growth_factor_ppm,
    inputs_digest,
    market_factor_ppm,
    merkle,
    performance_ppm,
    rating_percentiles_ppm,
    resource_class,
    response_time_score_ppm,
    scarcity_multiplier_ppm,
    uptime_score_ppm,
)
from ledger.telemetry.domain import NodeEpochRollup

PERF = DEFAULT_PARAMS.performance
POOL = DEFAULT_PARAMS.pool
MULT = DEFAULT_PARAMS.multipliers
SWARM = 10**18
EPOCH = 42
NEUTRAL = NetworkConditions(utilization_ppm=500_000, active_nodes=10_000)


def make_rollup(
    node_id: str,
    *,
    epoch: int = EPOCH,
    expected: int = 60,
    received: int = 60,
    up: int | None = None,
    excused: int = 0,
    latency: int | None = 10,
    jobs_ok: int = 100,
    jobs_failed: int = 0,
    rating_sum: int = 0,
    rating_count: int = 0,
    gpu_util_ppm_sum: int = 0,
    heartbeats_accepted: int = 0,
) -> NodeEpochRollup:
    return NodeEpochRollup(
        node_id=node_id,
        epoch=epoch,
        heartbeats_expected=expected,
        heartbeats_received=received,
        heartbeats_up=received if up is None else up,
        heartbeats_excused=excused,
        latency_p50_ms=latency,
        jobs_ok=jobs_ok,
        jobs_failed=jobs_failed,
        gpu_util_ppm_sum=gpu_util_ppm_sum,
        bandwidth_mbps_sum=0,
        rating_sum=rating_sum,
        rating_count=rating_count,
        heartbeats_accepted=heartbeats_accepted,
    )


def make_node(
    node_id: str,
    *,
    provider_id: str = "0x" + "11" * 20,
    provider_type: str = "gaming_pc",
    region: str = "eu-west",
    capacity_units_ppm: int = 1_000_000,
    commitment_tier: str = "flexible",
    standing_ppm: int = 1_000_000,
    jailed: bool = False,
    tombstoned: bool = False,
    under_staked: bool = False,
    **rollup_kwargs: Any,
) -> NodeRewardInput:
    return NodeRewardInput(
        node_id=node_id,
        provider_id=provider_id,
        provider_type=provider_type,
        region=region,
        capacity_units_ppm=capacity_units_ppm,
        commitment_tier=commitment_tier,
        standing_ppm=standing_ppm,
        jailed=jailed,
        tombstoned=tombstoned,
        under_staked=under_staked,
        rollup=make_rollup(node_id, **rollup_kwargs),
    )


def assert_no_float(value: object, path: str = "result") -> None:
    """Walk every field, item and key; fail on float, Decimal or Fraction anywhere."""
    assert not isinstance(value, float | Decimal | Fraction), f"{path} is {value!r}"
    if isinstance(value, str | bytes | int | bool) or value is None:
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            assert_no_float(getattr(value, f.name), f"{path}.{f.name}")
        return
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        for name in value._fields:
            assert_no_float(getattr(value, name), f"{path}.{name}")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            assert_no_float(k, f"{path}[key]")
            assert_no_float(v, f"{path}[{k!r}]")
        return
    if isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            assert_no_float(item, f"{path}[{i}]")
        return
    raise AssertionError(f"{path}: unexpected type {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# Scores


@pytest.mark.parametrize(
    ("uptime_ppm", "score"),
    [
        (0, 0),
        (899_000, 0),  # 89.9%: below the floor
        (899_999, 0),
        (900_000, 0),  # exactly the floor: the ramp starts at 0
        (900_099, 1_000),  # 99 ppm of a 99_000 ppm ramp
        (949_500, 500_000),  # halfway
        (998_000, 989_898),  # 98_000 / 99_000 rounded down
        (998_999, 999_989),
        (999_000, 1_000_000),  # 99.9%: the target
        (1_000_000, 1_000_000),  # 100%
    ],
)
def test_uptime_score(uptime_ppm: int, score: int) -> None:
    assert uptime_score_ppm(uptime_ppm, PERF) == score


@pytest.mark.parametrize(
    ("error_rate_ppm", "score"),
    [
        (0, 1_000_000),
        (1, 999_980),
        (25_000, 500_000),  # 2.5%
        (49_999, 20),
        (50_000, 0),  # 5%: zero
        (100_000, 0),  # 10%: still zero, never negative
        (1_000_000, 0),
        (None, 1_000_000),  # no jobs
    ],
)
def test_error_rate_score(error_rate_ppm: int | None, score: int) -> None:
    assert error_rate_score_ppm(error_rate_ppm, PERF) == score


def test_no_jobs_error_score_comes_from_the_parameters() -> None:
    perf = dataclasses.replace(PERF, no_jobs_error_score_ppm=700_000)
    assert error_rate_score_ppm(None, perf) == 700_000


@pytest.mark.parametrize(
    ("p50", "target", "score"),
    [
        (50, 50, 1_000_000),  # at target
        (10, 50, 1_000_000),  # under target
        (0, 50, 1_000_000),  # 0 ms cannot divide by zero
        (51, 50, 980_392),  # just over: 50/51 rounded down
        (100, 50, 500_000),
        (150, 50, 333_333),
        (12, 10, 833_333),
        (None, 50, 0),  # no latency received
    ],
)
def test_response_time_score(p50: int | None, target: int, score: int) -> None:
    assert response_time_score_ppm(p50, target) == score


def test_performance_is_the_weighted_sum_rounded_down() -> None:
    assert performance_ppm(1_000_000, 1_000_000, 1_000_000, 1_000_000, PERF) == 1_000_000
    assert performance_ppm(0, 0, 0, 0, PERF) == 0
    # 0.35 x 1 + 0.3 x 0.60786 + 0.2 x 1 + 0.15 x 0.666666 = 0.8323579 -> 832_357
    assert performance_ppm(1_000_000, 607_860, 1_000_000, 666_666, PERF) == 832_357
    assert performance_ppm(1, 0, 0, 0, PERF) == 0  # 0.35 ppm rounds down


def test_rating_percentiles_definition() -> None:
    # Means 4.5, 4.0, unrated, 3.0, 5.0 -> ranks 2/3, 1/3, None, 0, 1.
    got = rating_percentiles_ppm([(9, 2), (12, 3), (0, 0), (3, 1), (5, 1)])
    assert got == [666_666, 333_333, None, 0, 1_000_000]


def test_rating_percentile_ties_count_half() -> None:
    # Means 4, 4, 3: a tied node has 1 lower and 1 tie -> (1 + 0.5) / 2.
    assert rating_percentiles_ppm([(4, 1), (8, 2), (3, 1)]) == [750_000, 750_000, 0]
    # All equal: everyone sits at the middle.
    assert rating_percentiles_ppm([(5, 1), (10, 2), (15, 3)]) == [500_000] * 3


def test_rating_percentile_single_and_none_rated() -> None:
    assert rating_percentiles_ppm([(3, 1), (0, 0)]) == [1_000_000, None]
    assert rating_percentiles_ppm([(0, 0), (0, 0)]) == [None, None]
    assert rating_percentiles_ppm([]) == []


def test_rating_percentile_compares_means_exactly() -> None:
    # 2.000001 vs 2.00000099999900...: a float key would call them equal on a bad day.
    high = (2_000_001, 1_000_000)
    low = (2_000_003, 1_000_001)
    assert rating_percentiles_ppm([low, high]) == [0, 1_000_000]
    assert rating_percentiles_ppm([high, low]) == [1_000_000, 0]


# --------------------------------------------------------------------------------------------
# Multipliers


@pytest.mark.parametrize(
    ("ratio", "multiplier"),
    [
        (None, 1_000_000),  # no figure: neutral
        (700_000, 1_000_000),  # the pivot
        (900_000, 1_100_000),
        (1_500_000, 1_400_000),
        (1_700_000, 1_500_000),  # 1.5: the cap
        (5_000_000, 1_500_000),
        (500_000, 900_000),
        (300_000, 800_000),  # 0.8: the floor
        (0, 800_000),
        (699_999, 999_999),  # the slope term floors toward minus infinity
    ],
)
def test_scarcity_multiplier(ratio: int | None, multiplier: int) -> None:
    assert scarcity_multiplier_ppm(ratio, MULT) == multiplier


@pytest.mark.parametrize(
    ("provider_type", "expected"),
    [
        ("individual", "gpu"),
        ("gaming_pc", "gpu"),
        ("workstation", "gpu"),
        ("data_center", "gpu"),
        ("gpu_cluster", "gpu"),
        ("storage_center", "storage"),
        ("edge_provider", "bandwidth"),
        ("edge_location", "bandwidth"),
        ("regional_hub", "bandwidth"),
    ],
)
def test_resource_class_of_every_provider_type(provider_type: str, expected: str) -> None:
    assert resource_class(DEFAULT_PARAMS.provider_type(provider_type)) == expected


# --------------------------------------------------------------------------------------------
# Eligibility


@pytest.mark.parametrize(
    ("kwargs", "reasons"),
    [
        ({}, ()),
        ({"jailed": True}, ("jailed",)),
        ({"tombstoned": True}, ("tombstoned",)),
        ({"under_staked": True}, ("under_staked",)),
        ({"received": 29}, ("insufficient_heartbeats",)),  # 483_333 ppm < 50%
        ({"received": 30}, ()),  # exactly 50% is enough
        (
            {"jailed": True, "tombstoned": True, "under_staked": True, "received": 0},
            ("jailed", "tombstoned", "under_staked", "insufficient_heartbeats"),
        ),
        # Declared maintenance is not expected: 30 of 60 with 20 excused is 75%.
        ({"received": 30, "excused": 20}, ()),
    ],
)
def test_eligibility_reasons(kwargs: dict[str, Any], reasons: tuple[str, ...]) -> None:
    node = make_node("n", **kwargs)
    assert eligibility_reasons(node, DEFAULT_PARAMS) == reasons
    receipt = compute_epoch(
        EPOCH, [node, make_node("other")], NEUTRAL, None, DEFAULT_PARAMS
    ).receipt("n")
    assert receipt.ineligible_reasons == reasons
    assert receipt.eligible is (not reasons)
    if reasons:
        assert receipt.weight == 0
        assert receipt.amount_base_units == 0


def test_ideal_of_a_node_ineligible_only_for_heartbeats_is_positive() -> None:
    low = make_node("low", received=20)
    jailed = make_node("jailed", jailed=True)
    result = compute_epoch(EPOCH, [low, jailed, make_node("ok")], NEUTRAL, None, DEFAULT_PARAMS)
    assert result.receipt("low").amount_base_units == 0
    assert result.receipt("low").ideal_base_units > 0
    # Perfect performance does not lift a jail.
    assert result.receipt("jailed").ideal_base_units == 0


# --------------------------------------------------------------------------------------------
# Pool scaling


@pytest.mark.parametrize(
    ("u", "factor"),
    [(0, 800_000), (333_333, 933_333), (500_000, 1_000_000), (1_000_000, 1_200_000)],
)
def test_demand_factor(u: int, factor: int) -> None:
    assert demand_factor_ppm(u, POOL) == factor


@pytest.mark.parametrize(
    ("active", "factor"),
    [
        (0, 1_250_000),
        (5_000, 1_125_000),
        (8_000, 1_050_000),
        (9_999, 1_000_025),
        (10_000, 1_000_000),
        (50_000, 1_000_000),
    ],
)
def test_growth_factor(active: int, factor: int) -> None:
    assert growth_factor_ppm(active, POOL) == factor


def test_growth_factor_without_target_is_neutral() -> None:
    assert growth_factor_ppm(0, dataclasses.replace(POOL, growth_target_nodes=0)) == 1_000_000


@pytest.mark.parametrize(
    ("reference", "current", "factor"),
    [
        (None, None, 1_000_000),
        (100, None, 1_000_000),
        (None, 100, 1_000_000),
        (100, 100, 1_000_000),
        (110, 100, 1_100_000),
        (100, 110, 909_090),
        (200, 100, 1_250_000),  # clamped up
        (100, 200, 800_000),  # clamped down
        (1, 3, 800_000),
    ],
)
def test_market_factor(reference: int | None, current: int | None, factor: int) -> None:
    assert market_factor_ppm(reference, current, POOL) == factor


def test_scale_records_every_factor_and_rate_limits_from_initial() -> None:
    network = NetworkConditions(
        utilization_ppm=1_000_000, active_nodes=0, reference_price=2, current_price=1
    )
    scale = compute_pool_scale(network, None, DEFAULT_PARAMS)
    assert scale.demand_factor_ppm == 1_200_000
    assert scale.growth_factor_ppm == 1_250_000
    assert scale.market_factor_ppm == 1_250_000
    assert scale.target_scale_ppm == 1_875_000
    assert scale.clamped_scale_ppm == 1_875_000
    assert scale.previous_scale_ppm == 1_000_000  # None means scale_initial_ppm
    assert scale.scale_ppm == 1_100_000  # +10% at most
    assert scale.rate_limited


def test_scale_rate_limit_downwards_and_step_rounding() -> None:
    low = NetworkConditions(
        utilization_ppm=0, active_nodes=10_000, reference_price=1, current_price=2
    )
    # target 0.8 x 1 x 0.8 = 0.64
    assert compute_pool_scale(low, 1_000_000, DEFAULT_PARAMS).scale_ppm == 900_000
    assert compute_pool_scale(low, 700_000, DEFAULT_PARAMS).scale_ppm == 640_000
    assert not compute_pool_scale(low, 700_000, DEFAULT_PARAMS).rate_limited
    # The step is floored: 10% of 999_999 is 99_999.9 -> 99_999.
    assert compute_pool_scale(low, 999_999, DEFAULT_PARAMS).scale_ppm == 900_000


def test_scale_clamps_to_bounds() -> None:
    narrow = dataclasses.replace(
        DEFAULT_PARAMS,
        pool=dataclasses.replace(POOL, scale_min_ppm=950_000, scale_max_ppm=1_050_000),
    )
    low = NetworkConditions(
        utilization_ppm=0, active_nodes=10_000, reference_price=1, current_price=2
    )
    scale = compute_pool_scale(low, 1_000_000, narrow)
    assert scale.target_scale_ppm == 640_000
    assert scale.clamped_scale_ppm == 950_000
    assert scale.scale_ppm == 950_000
    high = NetworkConditions(utilization_ppm=1_000_000, active_nodes=0)
    assert compute_pool_scale(high, 1_000_000, narrow).scale_ppm == 1_050_000


def test_scale_bounds_win_over_a_previous_scale_outside_them() -> None:
    # Governance lowered the maximum below last epoch's scale: the bound applies at once.
    capped = dataclasses.replace(
        DEFAULT_PARAMS, pool=dataclasses.replace(POOL, scale_max_ppm=1_200_000)
    )
    high = NetworkConditions(utilization_ppm=1_000_000, active_nodes=0)
    assert compute_pool_scale(high, 2_000_000, capped).scale_ppm == 1_200_000


def test_pool_is_base_emission_times_scale_rounded_down() -> None:
    odd = dataclasses.replace(
        DEFAULT_PARAMS,
        pool=dataclasses.replace(POOL, base_emission_per_epoch_base_units=10**18 + 1),
    )
    network = NetworkConditions(
        utilization_ppm=0, active_nodes=10_000, reference_price=1, current_price=2
    )
    result = compute_epoch(EPOCH, [make_node("a")], network, None, odd)
    assert result.scale.scale_ppm == 900_000
    # (10**18 + 1) x 0.9 = 900000000000000000.9 -> floor
    assert result.pool_base_units == 900_000_000_000_000_000
    assert result.base_emission_base_units == 10**18 + 1


# --------------------------------------------------------------------------------------------
# Allocation


def test_allocation_leftover_goes_to_largest_remainders_then_node_id() -> None:
    assert allocate_exact(10, [1, 1, 1], ["c", "a", "b"]) == [3, 4, 3]
    assert allocate_exact(11, [1, 1, 1], ["c", "a", "b"]) == [3, 4, 4]
    # 7 x 2/9 = 1.555.., 7 x 3/9 = 2.333.., 7 x 4/9 = 3.111..: one unit left, to the first.
    assert allocate_exact(7, [2, 3, 4], ["x", "y", "z"]) == [2, 2, 3]


def test_allocation_never_pays_zero_weight_and_is_exact() -> None:
    amounts = allocate_exact(10**30 + 7, [0, 3, 0, 5, 0, 11], ["a", "b", "c", "d", "e", "f"])
    assert sum(amounts) == 10**30 + 7
    assert amounts[0] == amounts[2] == amounts[4] == 0


def test_allocation_with_no_weight_pays_nothing() -> None:
    assert allocate_exact(100, [0, 0], ["a", "b"]) == [0, 0]
    assert allocate_exact(100, [], []) == []


def test_epoch_with_no_weight_reports_the_pool_undistributed() -> None:
    nodes = [make_node("a", jailed=True), make_node("b", received=0)]
    result = compute_epoch(EPOCH, nodes, NEUTRAL, None, DEFAULT_PARAMS)
    assert result.total_weight == 0
    assert result.pool_base_units == 10_000 * SWARM
    assert result.undistributed_base_units == result.pool_base_units
    assert result.distributed_base_units == 0
    assert [r.amount_base_units for r in result.receipts] == [0, 0]
    assert result.eligible_nodes == 0
    empty = compute_epoch(EPOCH, [], NEUTRAL, None, DEFAULT_PARAMS)
    assert empty.undistributed_base_units == empty.pool_base_units
    assert empty.receipts == ()


def test_perfect_node_ideal_equals_amount_and_ideal_never_below_amount() -> None:
    nodes = [
        # The only rated node ranks at the top; unrated ones score 0.5 on rating.
        make_node("perfect", rating_sum=5, rating_count=1),
        make_node("slow", latency=200),
        make_node("flaky", up=55, jobs_failed=4),
        make_node("penalised", standing_ppm=250_000),
    ]
    result = compute_epoch(EPOCH, nodes, NEUTRAL, None, DEFAULT_PARAMS)
    for r in result.receipts:
        assert r.ideal_base_units >= r.amount_base_units
        assert r.shortfall_base_units == r.ideal_base_units - r.amount_base_units
    perfect = result.receipt("perfect")
    assert perfect.weight == perfect.ideal_weight
    assert perfect.ideal_base_units == perfect.amount_base_units
    assert (
        result.receipt("penalised").ideal_base_units > result.receipt("penalised").amount_base_units
    )


def test_provider_totals_sum_each_providers_nodes() -> None:
    p1, p2 = "0x" + "01" * 20, "0x" + "02" * 20
    nodes = [
        make_node("a", provider_id=p2),
        make_node("b", provider_id=p1, capacity_units_ppm=3_000_000),
        make_node("c", provider_id=p2, jailed=True),
        make_node("d", provider_id=p1),
    ]
    result = compute_epoch(EPOCH, nodes, NEUTRAL, None, DEFAULT_PARAMS)
    assert list(result.provider_totals) == [p1, p2]
    by_id = {r.node_id: r.amount_base_units for r in result.receipts}
    assert result.provider_totals[p1] == by_id["b"] + by_id["d"]
    assert result.provider_totals[p2] == by_id["a"]
    assert sum(result.provider_totals.values()) == result.pool_base_units


# --------------------------------------------------------------------------------------------
# The worked example of docs/rewards.md, number by number.

EXAMPLE_PARAMS = dataclasses.replace(
    DEFAULT_PARAMS,
    version=2,
    multipliers=dataclasses.replace(MULT, underserved_regions=("af-south",)),
)
PROVIDER_A = "0x" + "a1" * 20
PROVIDER_B = "0x" + "b2" * 20
PROVIDER_C = "0x" + "c3" * 20


def example_inputs() -> tuple[list[NodeRewardInput], NetworkConditions]:
    nodes = [
        make_node(
            "node-a",
            provider_id=PROVIDER_A,
            provider_type="gaming_pc",
            region="eu-west",
            capacity_units_ppm=350_000,
            commitment_tier="flexible",
            received=60,
            up=60,
            latency=80,
            jobs_ok=100,
            jobs_failed=2,
            rating_sum=9,
            rating_count=2,
        ),
        make_node(
            "node-b",
            provider_id=PROVIDER_A,
            provider_type="workstation",
            region="eu-west",
            capacity_units_ppm=1_400_000,
            commitment_tier="30d",
            received=60,
            up=59,
            latency=100,
            jobs_ok=0,
            jobs_failed=0,
            rating_sum=12,
            rating_count=3,
        ),
        make_node(
            "node-c",
            provider_id=PROVIDER_B,
            provider_type="data_center",
            region="af-south",
            capacity_units_ppm=112_000_000,
            commitment_tier="90d",
            standing_ppm=500_000,
            received=60,
            up=60,
            latency=40,
            jobs_ok=1000,
            jobs_failed=50,
        ),
        make_node(
            "node-d",
            provider_id=PROVIDER_B,
            provider_type="gpu_cluster",
            region="us-east",
            capacity_units_ppm=200_000_000,
            commitment_tier="365d",
            jailed=True,
            received=20,
            up=20,
            latency=30,
            jobs_ok=10,
            jobs_failed=0,
            rating_sum=3,
            rating_count=1,
        ),
        make_node(
            "node-e",
            provider_id=PROVIDER_C,
            provider_type="edge_location",
            region="af-south",
            capacity_units_ppm=5_200_000,
            commitment_tier="flexible",
            received=58,
            up=57,
            latency=12,
            jobs_ok=10,
            jobs_failed=0,
            rating_sum=5,
            rating_count=1,
        ),
    ]
    network = NetworkConditions(
        utilization_ppm=600_000,
        active_nodes=8_000,
        reference_price=1_000_000,
        current_price=1_250_000,
        resource_demand_supply_ppm={"gpu": 900_000, "bandwidth": 1_500_000},
    )
    return nodes, network


E30 = 10**30
# Every figure below is written out in docs/rewards.md; change both together.
EXPECTED_RECEIPTS: dict[str, dict[str, object]] = {
    "node-a": {
        "uptime_ppm": 1_000_000,
        "received_ppm": 1_000_000,
        "error_rate_ppm": 19_607,
        "eligible": True,
        "ineligible_reasons": (),
        "uptime_score_ppm": 1_000_000,
        "error_rate_score_ppm": 607_860,
        "response_time_score_ppm": 1_000_000,
        "user_rating_score_ppm": 666_666,
        "performance_ppm": 832_357,
        "resource_class": "gpu",
        "type_multiplier_ppm": 1_000_000,
        "commitment_multiplier_ppm": 1_000_000,
        "scarcity_multiplier_ppm": 1_100_000,
        "region_multiplier_ppm": 1_000_000,
        "standing_ppm": 1_000_000,
        "weight": 320_457_445_000 * E30,
        "ideal_weight": 385_000_000_000 * E30,
        "amount_base_units": 45_511_484_841_513_491_700,
        "ideal_base_units": 54_622_210_513_208_266_913,
    },
    "node-b": {
        "uptime_ppm": 983_333,
        "received_ppm": 1_000_000,
        "error_rate_ppm": None,
        "eligible": True,
        "ineligible_reasons": (),
        "uptime_score_ppm": 841_747,
        "error_rate_score_ppm": 1_000_000,
        "response_time_score_ppm": 500_000,
        "user_rating_score_ppm": 333_333,
        "performance_ppm": 744_611,
        "resource_class": "gpu",
        "type_multiplier_ppm": 1_050_000,
        "commitment_multiplier_ppm": 1_050_000,
        "scarcity_multiplier_ppm": 1_100_000,
        "region_multiplier_ppm": 1_000_000,
        "standing_ppm": 1_000_000,
        "weight": 1_264_237_786_350 * E30,
        "ideal_weight": 1_697_850_000_000 * E30,
        "amount_base_units": 179_547_517_922_501_682_962,
        "ideal_base_units": 239_490_589_996_440_186_286,
    },
    "node-c": {
        "uptime_ppm": 1_000_000,
        "received_ppm": 1_000_000,
        "error_rate_ppm": 47_619,
        "eligible": True,
        "ineligible_reasons": (),
        "uptime_score_ppm": 1_000_000,
        "error_rate_score_ppm": 47_620,
        "response_time_score_ppm": 1_000_000,
        "user_rating_score_ppm": 500_000,
        "performance_ppm": 639_286,
        "resource_class": "gpu",
        "type_multiplier_ppm": 1_150_000,
        "commitment_multiplier_ppm": 1_100_000,
        "scarcity_multiplier_ppm": 1_100_000,
        "region_multiplier_ppm": 1_100_000,
        "standing_ppm": 500_000,
        "weight": 54_797_294_490_400 * E30,
        "ideal_weight": 171_432_800_000_000 * E30,
        "amount_base_units": 7_782_332_027_130_124_487_893,
        "ideal_base_units": 8_571_321_115_876_306_335_108,
    },
    "node-d": {
        "uptime_ppm": 333_333,
        "received_ppm": 333_333,
        "error_rate_ppm": 0,
        "eligible": False,
        "ineligible_reasons": ("jailed", "insufficient_heartbeats"),
        "uptime_score_ppm": 0,
        "error_rate_score_ppm": 1_000_000,
        "response_time_score_ppm": 1_000_000,
        "user_rating_score_ppm": 0,
        "performance_ppm": 500_000,
        "resource_class": "gpu",
        "type_multiplier_ppm": 1_200_000,
        "commitment_multiplier_ppm": 1_350_000,
        "scarcity_multiplier_ppm": 1_100_000,
        "region_multiplier_ppm": 1_000_000,
        "standing_ppm": 1_000_000,
        "weight": 0,
        "ideal_weight": 0,
        "amount_base_units": 0,
        "ideal_base_units": 0,
    },
    "node-e": {
        "uptime_ppm": 950_000,
        "received_ppm": 966_666,
        "error_rate_ppm": 0,
        "eligible": True,
        "ineligible_reasons": (),
        "uptime_score_ppm": 505_050,
        "error_rate_score_ppm": 1_000_000,
        "response_time_score_ppm": 833_333,
        "user_rating_score_ppm": 1_000_000,
        "performance_ppm": 793_434,
        "resource_class": "bandwidth",
        "type_multiplier_ppm": 1_100_000,
        "commitment_multiplier_ppm": 1_000_000,
        "scarcity_multiplier_ppm": 1_400_000,
        "region_multiplier_ppm": 1_100_000,
        "standing_ppm": 1_000_000,
        "weight": 6_989_201_419_200 * E30,
        "ideal_weight": 8_808_800_000_000 * E30,
        "amount_base_units": 992_608_970_105_860_337_445,
        "ideal_base_units": 1_216_110_440_422_377_609_590,
    },
}


def test_worked_example_pool() -> None:
    nodes, network = example_inputs()
    result = compute_epoch(EPOCH, nodes, network, None, EXAMPLE_PARAMS)
    s = result.scale
    assert s.demand_factor_ppm == 1_040_000  # 0.8 + 0.4 x 0.6
    assert s.growth_factor_ppm == 1_050_000  # 1 + 0.25 x 2_000 / 10_000
    assert s.market_factor_ppm == 800_000  # 1.00 / 1.25
    assert s.target_scale_ppm == 873_600  # 1.04 x 1.05 x 0.8
    assert s.clamped_scale_ppm == 873_600
    assert s.previous_scale_ppm == 1_000_000
    assert s.scale_ppm == 900_000  # at most 10% below 1.0
    assert result.pool_base_units == 9_000 * SWARM
    assert result.rated_nodes == 4
    assert result.eligible_nodes == 4


def test_worked_example_receipts() -> None:
    nodes, network = example_inputs()
    result = compute_epoch(EPOCH, nodes, network, None, EXAMPLE_PARAMS)
    assert [r.node_id for r in result.receipts] == sorted(EXPECTED_RECEIPTS)
    for r in result.receipts:
        expected = EXPECTED_RECEIPTS[r.node_id]
        got = {k: getattr(r, k) for k in expected}
        assert got == expected, r.node_id
        assert r.params_version == 2
        assert r.params_hash == EXAMPLE_PARAMS.content_hash()
        assert r.calculator_version == CALCULATOR_VERSION == "rewards-v1"
        assert r.epoch == EPOCH


def test_worked_example_allocation_steps() -> None:
    nodes, network = example_inputs()
    result = compute_epoch(EPOCH, nodes, network, None, EXAMPLE_PARAMS)
    assert result.total_weight == 63_371_191_140_950 * E30
    pool = result.pool_base_units
    floors = {}
    remainders = {}
    for r in result.receipts:
        floors[r.node_id], remainders[r.node_id] = divmod(pool * r.weight, result.total_weight)
    assert floors == {
        "node-a": 45_511_484_841_513_491_699,
        "node-b": 179_547_517_922_501_682_962,
        "node-c": 7_782_332_027_130_124_487_892,
        "node-d": 0,
        "node-e": 992_608_970_105_860_337_445,
    }
    assert {k: v // E30 for k, v in remainders.items()} == {
        "node-a": 54_429_836_025_950,
        "node-b": 17_040_044_506_100,
        "node-c": 27_834_059_622_600,
        "node-d": 0,
        "node-e": 27_438_442_127_250,
    }
    assert pool - sum(floors.values()) == 2  # to node-a and node-c, the two largest
    assert result.undistributed_base_units == 0
    assert sum(r.amount_base_units for r in result.receipts) == pool
    assert dict(result.provider_totals) == {
        PROVIDER_A: 225_059_002_764_015_174_662,
        PROVIDER_B: 7_782_332_027_130_124_487_893,
        PROVIDER_C: 992_608_970_105_860_337_445,
    }


def test_worked_example_is_in_the_doc() -> None:
    # The page and this test must not drift apart: every amount appears in docs/rewards.md.
    doc = (Path(__file__).resolve().parents[2] / "docs" / "rewards.md").read_text()
    flat = doc.replace("_", "").replace(",", "")
    for node_id, expected in EXPECTED_RECEIPTS.items():
        for key in ("amount_base_units", "ideal_base_units", "performance_ppm"):
            value = expected[key]
            assert isinstance(value, int)
            assert str(value) in flat, (node_id, key, value)


# --------------------------------------------------------------------------------------------
# No float anywhere


def test_results_contain_no_float() -> None:
    nodes, network = example_inputs()
    result = compute_epoch(EPOCH, nodes, network, 950_000, EXAMPLE_PARAMS)
    assert_no_float(result)
    assert_no_float(result.to_dict())
    # And the JSON form round-trips without a float: amounts travel as strings.
    text = json.dumps(result.to_dict())
    assert_no_float(json.loads(text, parse_float=lambda s: pytest.fail(f"float {s}")))


def test_assert_no_float_can_fail() -> None:
    receipt = compute_epoch(EPOCH, [make_node("a")], NEUTRAL, None, DEFAULT_PARAMS).receipts[0]
    with pytest.raises(AssertionError):
        assert_no_float(receipt._replace(amount_base_units=1.0))  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        assert_no_float({"x": [Decimal(1)]})


#: Every source file of the rewards domain package (the facade and each submodule).
DOMAIN_FILES = sorted(Path(str(rewards.__file__)).parent.glob("*.py"))


def test_the_guards_see_every_domain_file() -> None:
    names = {p.name for p in DOMAIN_FILES}
    assert {"__init__.py", "merkle.py", "allocation.py", "epoch.py"} <= names, names
    assert Path(str(merkle.__file__)) in DOMAIN_FILES


def _source_tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: p.name)
def test_source_has_no_true_division_float_or_decimal(path: Path) -> None:
    """A static guard: ``/`` always makes a float in Python 3, so it must not appear at all."""
    offences = []
    for node in ast.walk(_source_tree(path)):
        if isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.Div):
            offences.append(f"line {node.lineno}: true division")
        if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            offences.append(f"line {node.lineno}: float literal")
        if isinstance(node, ast.Name) and node.id in {"float", "Decimal", "Fraction"}:
            offences.append(f"line {node.lineno}: {node.id}")
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            for name in names:
                if name.split(".")[0] in {"decimal", "fractions", "math", "statistics"}:
                    offences.append(f"line {node.lineno}: imports {name}")
    assert offences == []


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: p.name)
def test_domain_module_is_pure(path: Path) -> None:
    allowed = {
        "__future__",
        "bisect",
        "collections",
        "dataclasses",
        "enum",
        "hashlib",
        "itertools",
        "json",
        "re",
        "types",
        "typing",
        "ledger",
        "sha3",  # safe-pysha3: keccak-256 in C (pure computation)
    }
    for node in ast.walk(_source_tree(path)):
        if isinstance(node, ast.Import):
            roots = {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]}
        else:
            continue
        assert roots <= allowed, roots
    source = path.read_text()
    for forbidden in ("datetime", "time.time", "open(", "random"):
        assert forbidden not in source, forbidden


# --------------------------------------------------------------------------------------------
# Input validation


def test_duplicate_node_ids_are_refused() -> None:
    with pytest.raises(RewardInputError, match="duplicate node_id"):
        compute_epoch(EPOCH, [make_node("a"), make_node("a")], NEUTRAL, None, DEFAULT_PARAMS)


def test_rollup_of_another_epoch_is_refused() -> None:
    with pytest.raises(RewardInputError, match="epoch"):
        compute_epoch(EPOCH, [make_node("a", epoch=EPOCH - 1)], NEUTRAL, None, DEFAULT_PARAMS)


def test_rollup_of_another_node_is_refused() -> None:
    with pytest.raises(RewardInputError, match=r"rollup\.node_id"):
        dataclasses.replace(make_node("a"), rollup=make_rollup("b"))


def test_unknown_provider_type_and_tier_are_refused() -> None:
    with pytest.raises(UnknownProviderTypeError):
        compute_epoch(
            EPOCH, [make_node("a", provider_type="toaster")], NEUTRAL, None, DEFAULT_PARAMS
        )
    with pytest.raises(RewardInputError, match="unknown commitment tier"):
        compute_epoch(EPOCH, [make_node("a", commitment_tier="7d")], NEUTRAL, None, DEFAULT_PARAMS)


def test_unknown_resource_class_is_refused() -> None:
    network = NetworkConditions(
        utilization_ppm=0, active_nodes=0, resource_demand_supply_ppm={"gpus": 900_000}
    )
    with pytest.raises(RewardInputError, match="unknown resource class"):
        compute_epoch(EPOCH, [make_node("a")], network, None, DEFAULT_PARAMS)


def test_inconsistent_ratings_are_refused() -> None:
    with pytest.raises(RewardInputError, match="rating_sum"):
        compute_epoch(
            EPOCH, [make_node("a", rating_sum=11, rating_count=2)], NEUTRAL, None, DEFAULT_PARAMS
        )
    with pytest.raises(RewardInputError, match="rating_sum"):
        compute_epoch(
            EPOCH, [make_node("a", rating_sum=3, rating_count=0)], NEUTRAL, None, DEFAULT_PARAMS
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("provider_id", "0x" + "AB" * 20),  # must be lower case
        ("provider_id", "0x" + "ab" * 19),
        ("capacity_units_ppm", 1.5),
        ("capacity_units_ppm", -1),
        ("standing_ppm", 1_000_001),
        ("standing_ppm", True),
        ("jailed", 1),
        ("node_id", ""),
    ],
)
def test_bad_node_fields_are_refused(field: str, value: object) -> None:
    changes: dict[str, Any] = {field: value}
    with pytest.raises(RewardInputError) as info:
        dataclasses.replace(make_node("a"), **changes)
    assert info.value.field == field
    assert info.value.code == "invalid_reward_input"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"utilization_ppm": 1_000_001, "active_nodes": 0},
        {"utilization_ppm": 0.5, "active_nodes": 0},
        {"utilization_ppm": 0, "active_nodes": -1},
        {"utilization_ppm": 0, "active_nodes": 0, "current_price": 0},
        {"utilization_ppm": 0, "active_nodes": 0, "reference_price": -5},
        {"utilization_ppm": 0, "active_nodes": 0, "resource_demand_supply_ppm": {"gpu": -1}},
        {"utilization_ppm": 0, "active_nodes": 0, "resource_demand_supply_ppm": {"gpu": 0.9}},
    ],
)
def test_bad_network_conditions_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(RewardInputError):
        NetworkConditions(**kwargs)


def test_network_conditions_copy_the_ratio_mapping() -> None:
    ratios = {"gpu": 900_000}
    network = NetworkConditions(
        utilization_ppm=0, active_nodes=0, resource_demand_supply_ppm=ratios
    )
    ratios["gpu"] = 5_000_000
    assert network.resource_demand_supply_ppm["gpu"] == 900_000


def test_bad_epoch_and_previous_scale_are_refused() -> None:
    with pytest.raises(RewardInputError, match="epoch"):
        compute_epoch(-1, [], NEUTRAL, None, DEFAULT_PARAMS)
    with pytest.raises(RewardInputError, match="previous_scale_ppm"):
        compute_epoch(EPOCH, [], NEUTRAL, -1, DEFAULT_PARAMS)


# --------------------------------------------------------------------------------------------
# Provenance and serialisation


def test_inputs_digest_ignores_order_and_sees_every_change() -> None:
    nodes, network = example_inputs()
    digest = inputs_digest(nodes, network)
    assert len(digest) == 64
    assert inputs_digest(list(reversed(nodes)), network) == digest
    changed = [*nodes[:-1], dataclasses.replace(nodes[-1], standing_ppm=999_999)]
    assert inputs_digest(changed, network) != digest
    other_network = dataclasses.replace(network, utilization_ppm=600_001)
    assert inputs_digest(nodes, other_network) != digest
    rollup_changed = dataclasses.replace(
        nodes[0], rollup=dataclasses.replace(nodes[0].rollup, heartbeats_up=59)
    )
    assert inputs_digest([rollup_changed, *nodes[1:]], network) != digest


def test_to_dict_is_json_with_amounts_as_strings() -> None:
    nodes, network = example_inputs()
    result = compute_epoch(EPOCH, nodes, network, None, EXAMPLE_PARAMS)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["pool_base_units"] == str(9_000 * SWARM)
    first = data["receipts"][0]
    assert first["node_id"] == "node-a"
    assert first["amount_base_units"] == "45511484841513491700"
    assert first["weight"] == str(320_457_445_000 * E30)
    assert first["ineligible_reasons"] == []
    assert data["scale"]["scale_ppm"] == 900_000
    assert data["provider_totals"][PROVIDER_C] == "992608970105860337445"


def test_results_are_immutable() -> None:
    result = compute_epoch(EPOCH, [make_node("a")], NEUTRAL, None, DEFAULT_PARAMS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.pool_base_units = 0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.receipts[0].amount_base_units = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.provider_totals["0x" + "11" * 20] = 0  # type: ignore[index]


def test_receipt_lookup() -> None:
    result = compute_epoch(EPOCH, [make_node("b"), make_node("a")], NEUTRAL, None, DEFAULT_PARAMS)
    assert result.receipt("a").node_id == "a"
    with pytest.raises(KeyError):
        result.receipt("zz")


def test_receipt_carries_the_parameter_set_identity() -> None:
    params: ParameterSet = dataclasses.replace(DEFAULT_PARAMS, version=7)
    result = compute_epoch(EPOCH, [make_node("a")], NEUTRAL, None, params)
    assert result.params_version == result.receipts[0].params_version == 7
    assert result.params_hash == params.content_hash() != DEFAULT_PARAMS.content_hash()


# --------------------------------------------------------------------------------------------
# Scale


@pytest.mark.slow
def test_100k_nodes_in_seconds() -> None:
    types = DEFAULT_PARAMS.providers.type_names
    nodes = [
        make_node(
            f"node-{i:06d}",
            provider_id=f"0x{i % 997:040x}",
            provider_type=types[i % len(types)],
            capacity_units_ppm=100_000 + (i * 7919) % 50_000_000,
            received=30 + i % 31,
            up=30 + i % 31 - i % 3,
            latency=None if i % 50 == 0 else 5 + i % 200,
            jobs_failed=i % 7,
            rating_sum=(i % 5 + 1) * (i % 4),
            rating_count=i % 4,
            jailed=i % 101 == 0,
        )
        for i in range(100_000)
    ]
    network = NetworkConditions(utilization_ppm=600_000, active_nodes=100_000)
    start = time.perf_counter()
    result = compute_epoch(EPOCH, nodes, network, None, DEFAULT_PARAMS)
    elapsed = time.perf_counter() - start
    assert sum(r.amount_base_units for r in result.receipts) == result.pool_base_units
    # Generous for a slow shared CI machine; about 1.5 s on the development box.
    assert elapsed < 10, elapsed
