"""Property tests of the reward epoch calculator: conservation, determinism, eligibility,
monotonicity in uptime, and the bounds and step limit of the pool scale."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.params.domain import DEFAULT_PARAMS, ParameterSet
from ledger.rewards.domain import (
    EpochRewards,
    NetworkConditions,
    NodeRewardInput,
    allocate_exact,
    compute_epoch,
    compute_pool_scale,
)
from ledger.telemetry.domain import NodeEpochRollup

EPOCH = 9
TYPES = DEFAULT_PARAMS.providers.type_names
TIERS = tuple(t.name for t in DEFAULT_PARAMS.multipliers.commitment_tiers)
REGIONS = ("eu-west", "us-east", "af-south")
PROVIDERS = tuple(f"0x{i:040x}" for i in range(1, 6))
# Some regions under-served, so the region multiplier is exercised too.
PARAMS = dataclasses.replace(
    DEFAULT_PARAMS,
    multipliers=dataclasses.replace(DEFAULT_PARAMS.multipliers, underserved_regions=("af-south",)),
)


def with_emission(base_emission: int) -> ParameterSet:
    return dataclasses.replace(
        PARAMS,
        pool=dataclasses.replace(PARAMS.pool, base_emission_per_epoch_base_units=base_emission),
    )


@st.composite
def rollups(draw: st.DrawFn, node_id: str) -> NodeEpochRollup:
    expected = draw(st.integers(min_value=0, max_value=120))
    received = draw(st.integers(min_value=0, max_value=expected + 2))
    up = draw(st.integers(min_value=0, max_value=received))
    count = draw(st.integers(min_value=0, max_value=6))
    return NodeEpochRollup(
        node_id=node_id,
        epoch=EPOCH,
        heartbeats_expected=expected,
        heartbeats_received=received,
        heartbeats_up=up,
        heartbeats_excused=draw(st.integers(min_value=0, max_value=expected)),
        latency_p50_ms=draw(st.none() | st.integers(min_value=0, max_value=2_000)),
        jobs_ok=draw(st.integers(min_value=0, max_value=1_000)),
        jobs_failed=draw(st.integers(min_value=0, max_value=100)),
        gpu_util_ppm_sum=0,
        bandwidth_mbps_sum=0,
        rating_sum=draw(st.integers(min_value=count, max_value=5 * count)),
        rating_count=count,
    )


@st.composite
def node_inputs(draw: st.DrawFn, node_id: str) -> NodeRewardInput:
    return NodeRewardInput(
        node_id=node_id,
        provider_id=draw(st.sampled_from(PROVIDERS)),
        provider_type=draw(st.sampled_from(TYPES)),
        region=draw(st.sampled_from(REGIONS)),
        capacity_units_ppm=draw(st.integers(min_value=0, max_value=10**9)),
        commitment_tier=draw(st.sampled_from(TIERS)),
        standing_ppm=draw(
            st.sampled_from([1_000_000, 750_000, 500_000, 250_000, 0])
            | st.integers(min_value=0, max_value=1_000_000)
        ),
        jailed=draw(st.booleans()),
        tombstoned=draw(st.sampled_from([False, False, False, True])),
        under_staked=draw(st.sampled_from([False, False, False, True])),
        rollup=draw(rollups(node_id)),
    )


@st.composite
def node_lists(draw: st.DrawFn, max_size: int = 25) -> list[NodeRewardInput]:
    count = draw(st.integers(min_value=0, max_value=max_size))
    # Ids drawn from a small alphabet so equal-remainder ties between ids actually happen.
    ids = draw(
        st.lists(
            st.text("abc012", min_size=1, max_size=4), min_size=count, max_size=count, unique=True
        )
    )
    return [draw(node_inputs(node_id)) for node_id in ids]


networks = st.builds(
    NetworkConditions,
    utilization_ppm=st.integers(min_value=0, max_value=1_000_000),
    active_nodes=st.integers(min_value=0, max_value=30_000),
    reference_price=st.none() | st.integers(min_value=1, max_value=10**9),
    current_price=st.none() | st.integers(min_value=1, max_value=10**9),
    resource_demand_supply_ppm=st.dictionaries(
        st.sampled_from(["gpu", "storage", "bandwidth"]),
        st.integers(min_value=0, max_value=5_000_000),
    ),
)
previous_scales = st.none() | st.integers(min_value=500_000, max_value=2_000_000)
emissions = st.integers(min_value=0, max_value=10**30)


def random_nodes(seed: int, count: int) -> list[NodeRewardInput]:
    """Thousands of varied nodes, cheaply: hypothesis draws only the seed and the count."""
    rng = random.Random(seed)
    nodes = []
    for i in range(count):
        node_id = f"n{rng.randrange(10**9):09d}-{i}"
        expected = rng.randint(1, 60)
        received = rng.randint(0, expected)
        rating_count = rng.choice([0, 0, 1, 2, 5])
        nodes.append(
            NodeRewardInput(
                node_id=node_id,
                provider_id=rng.choice(PROVIDERS),
                provider_type=rng.choice(TYPES),
                region=rng.choice(REGIONS),
                capacity_units_ppm=rng.choice([0, rng.randint(1, 10**9)]),
                commitment_tier=rng.choice(TIERS),
                standing_ppm=rng.choice([1_000_000, 500_000, rng.randint(0, 1_000_000)]),
                jailed=rng.random() < 0.05,
                tombstoned=rng.random() < 0.01,
                under_staked=rng.random() < 0.02,
                rollup=NodeEpochRollup(
                    node_id=node_id,
                    epoch=EPOCH,
                    heartbeats_expected=expected,
                    heartbeats_received=received,
                    heartbeats_up=rng.randint(0, received),
                    heartbeats_excused=0,
                    latency_p50_ms=rng.choice([None, rng.randint(0, 500)]),
                    jobs_ok=rng.randint(0, 100),
                    jobs_failed=rng.randint(0, 10),
                    gpu_util_ppm_sum=0,
                    bandwidth_mbps_sum=0,
                    rating_sum=sum(rng.randint(1, 5) for _ in range(rating_count)),
                    rating_count=rating_count,
                ),
            )
        )
    return nodes


def check_conservation(result: EpochRewards) -> None:
    paid = sum(r.amount_base_units for r in result.receipts)
    assert paid + result.undistributed_base_units == result.pool_base_units
    if result.total_weight > 0:
        assert result.undistributed_base_units == 0
    else:
        assert result.undistributed_base_units == result.pool_base_units
    assert sum(result.provider_totals.values()) == paid
    assert result.total_weight == sum(r.weight for r in result.receipts)
    for r in result.receipts:
        assert r.amount_base_units >= 0
        assert r.ideal_base_units >= r.amount_base_units
        # Every amount is its exact share rounded down, plus at most one leftover unit.
        if result.total_weight:
            floor = result.pool_base_units * r.weight // result.total_weight
            assert floor <= r.amount_base_units <= floor + 1
        if not r.eligible:
            assert r.ineligible_reasons
            assert r.weight == 0
            assert r.amount_base_units == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node_lists(), networks, previous_scales, emissions)
def test_conservation_and_eligibility(
    nodes: list[NodeRewardInput],
    network: NetworkConditions,
    previous: int | None,
    emission: int,
) -> None:
    result = compute_epoch(EPOCH, nodes, network, previous, with_emission(emission))
    check_conservation(result)
    assert [r.node_id for r in result.receipts] == sorted(n.node_id for n in nodes)


@settings(max_examples=6, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=1_000, max_value=4_000),
    emissions,
)
def test_conservation_with_thousands_of_nodes(seed: int, count: int, emission: int) -> None:
    nodes = random_nodes(seed, count)
    network = NetworkConditions(utilization_ppm=seed % 1_000_001, active_nodes=count)
    check_conservation(compute_epoch(EPOCH, nodes, network, None, with_emission(emission)))


@settings(max_examples=300, deadline=None)
@given(
    emissions,
    st.lists(
        st.integers(min_value=0, max_value=10) | st.integers(min_value=0, max_value=10**48),
        max_size=60,
    ),
)
def test_allocation_is_exact_and_fair(pool: int, weights: list[int]) -> None:
    keys = [f"k{i:03d}" for i in range(len(weights))]
    amounts = allocate_exact(pool, weights, keys)
    total = sum(weights)
    if total == 0:
        assert amounts == [0] * len(weights)
        return
    assert sum(amounts) == pool
    for w, a in zip(weights, amounts, strict=True):
        assert pool * w // total <= a <= pool * w // total + 1
        if w == 0:
            assert a == 0
    # A larger weight never receives less.
    for wi, ai in zip(weights, amounts, strict=True):
        for wj, aj in zip(weights, amounts, strict=True):
            if wi > wj:
                assert ai >= aj


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node_lists(), networks, previous_scales, emissions, st.randoms(use_true_random=False))
def test_deterministic_and_order_independent(
    nodes: list[NodeRewardInput],
    network: NetworkConditions,
    previous: int | None,
    emission: int,
    rnd: random.Random,
) -> None:
    params = with_emission(emission)
    first = compute_epoch(EPOCH, nodes, network, previous, params)
    again = compute_epoch(EPOCH, nodes, network, previous, params)
    shuffled = nodes[:]
    rnd.shuffle(shuffled)
    reordered = compute_epoch(EPOCH, shuffled, network, previous, params)
    assert first == again == reordered
    assert first.to_dict() == reordered.to_dict()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node_lists(max_size=15), networks, emissions, st.data())
def test_more_uptime_never_lowers_a_reward(
    nodes: list[NodeRewardInput],
    network: NetworkConditions,
    emission: int,
    data: st.DataObject,
) -> None:
    assume(nodes)
    i = data.draw(st.integers(min_value=0, max_value=len(nodes) - 1))
    node = nodes[i]
    rollup = node.rollup
    assume(rollup.heartbeats_up < rollup.heartbeats_received)
    more_up = data.draw(
        st.integers(min_value=rollup.heartbeats_up + 1, max_value=rollup.heartbeats_received)
    )
    better = dataclasses.replace(node, rollup=dataclasses.replace(rollup, heartbeats_up=more_up))
    params = with_emission(emission)
    before = compute_epoch(EPOCH, nodes, network, None, params).receipt(node.node_id)
    after_nodes = [*nodes[:i], better, *nodes[i + 1 :]]
    after = compute_epoch(EPOCH, after_nodes, network, None, params).receipt(node.node_id)
    assert after.uptime_score_ppm >= before.uptime_score_ppm
    assert after.weight >= before.weight
    assert after.amount_base_units >= before.amount_base_units


@st.composite
def pool_params(draw: st.DrawFn) -> ParameterSet:
    low = draw(st.integers(min_value=1, max_value=3_000_000))
    high = draw(st.integers(min_value=low, max_value=4_000_000))
    return dataclasses.replace(
        DEFAULT_PARAMS,
        pool=dataclasses.replace(
            DEFAULT_PARAMS.pool,
            scale_min_ppm=low,
            scale_max_ppm=high,
            scale_initial_ppm=draw(st.integers(min_value=low, max_value=high)),
            scale_max_step_ppm=draw(st.integers(min_value=0, max_value=1_000_000)),
        ),
    )


@settings(max_examples=400, deadline=None)
@given(networks, pool_params(), st.data())
def test_scale_within_bounds_and_step(
    network: NetworkConditions, params: ParameterSet, data: st.DataObject
) -> None:
    pool = params.pool
    previous = data.draw(
        st.none() | st.integers(min_value=pool.scale_min_ppm, max_value=pool.scale_max_ppm)
    )
    scale = compute_pool_scale(network, previous, params)
    prev = pool.scale_initial_ppm if previous is None else previous
    assert scale.previous_scale_ppm == prev
    assert pool.scale_min_ppm <= scale.scale_ppm <= pool.scale_max_ppm
    assert abs(scale.scale_ppm - prev) <= prev * pool.scale_max_step_ppm // 1_000_000
    # It moves toward the clamped target and never past it.
    low, high = sorted((prev, scale.clamped_scale_ppm))
    assert low <= scale.scale_ppm <= high


@settings(max_examples=30, deadline=None)
@given(networks)
def test_scale_sequence_moves_at_most_one_step_per_epoch(network: NetworkConditions) -> None:
    pool = DEFAULT_PARAMS.pool
    previous: int | None = None
    for _ in range(40):
        scale = compute_pool_scale(network, previous, DEFAULT_PARAMS)
        prev = pool.scale_initial_ppm if previous is None else previous
        assert abs(scale.scale_ppm - prev) <= prev // 10
        assert pool.scale_min_ppm <= scale.scale_ppm <= pool.scale_max_ppm
        previous = scale.scale_ppm
    # Held constant for 40 epochs, the scale has reached its clamped target and stays there.
    final = compute_pool_scale(network, previous, DEFAULT_PARAMS)
    assert final.scale_ppm == final.clamped_scale_ppm == previous
