"""Reward epochs: from node rollups and network conditions to exact per-node rewards. Pure.

SPEC section 4, as implemented (docs/rewards.md has the worked example):

1. **Pool.** ``scale = demand x growth x market`` (each factor in ppm), clamped to
   ``[scale_min, scale_max]``, then moved at most ``scale_max_step`` (relative) away from the
   previous epoch's scale. ``pool = base_emission x scale / 1e6``, rounded down.
2. **Eligibility.** Jailed, tombstoned, under-staked nodes and nodes that sent fewer than
   ``min_heartbeats_ppm`` of their expected heartbeats get weight 0; each reason is a stable code.
3. **Performance.** Four scores in ppm (uptime, error rate, response time, user rating), weighted
   by the performance matrix: ``performance = sum(weight_m x score_m) / 1e6``, rounded down.
4. **Weight.** ``capacity x type x performance x commitment x scarcity x region x standing``, all
   ppm, multiplied as exact integers and never divided, so no rounding happens before allocation.
5. **Allocation.** ``floor(pool x w_i / sum(w))``; the leftover base units go one each to the
   largest remainders, ties by node id ascending. The amounts sum to the pool exactly.
6. **Ideal vs actual.** What the node would have earned with perfect performance and good
   standing, everyone else unchanged.

Everything is ``int``: no float, no Decimal. Every division is ``money.mul_div`` or an integer
floor division whose rounding direction is stated next to it. Time, the epoch and the parameter
set are arguments; nothing here reads a clock, a file or the network.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Final, NamedTuple

from ledger.kit.errors import InvalidInput
from ledger.kit.limits import MAX_NODES_PER_EPOCH
from ledger.kit.money import PPM, Rounding, mul_div
from ledger.params.domain import (
    CATEGORY_EDGE,
    MultiplierParams,
    ParameterSet,
    PerformanceParams,
    PoolParams,
    ProviderTypeParams,
)
from ledger.telemetry.domain import NodeEpochRollup

__all__ = [
    "CALCULATOR_VERSION",
    "INELIGIBILITY_REASONS",
    "MAX_NODES_PER_EPOCH",
    "REASON_INSUFFICIENT_HEARTBEATS",
    "REASON_JAILED",
    "REASON_TOMBSTONED",
    "REASON_UNDER_STAKED",
    "RESOURCE_BANDWIDTH",
    "RESOURCE_GPU",
    "RESOURCE_STORAGE",
    "EpochRewards",
    "NetworkConditions",
    "NodeRewardInput",
    "PoolScale",
    "RewardInputError",
    "RewardReceipt",
    "allocate_exact",
    "compute_epoch",
    "compute_pool_scale",
    "demand_factor_ppm",
    "eligibility_reasons",
    "error_rate_score_ppm",
    "growth_factor_ppm",
    "inputs_digest",
    "market_factor_ppm",
    "performance_ppm",
    "rating_percentiles_ppm",
    "resource_class",
    "response_time_score_ppm",
    "scarcity_multiplier_ppm",
    "uptime_score_ppm",
]

CALCULATOR_VERSION: Final[str] = "rewards-v1"

# A limit on everything: ten times the 100k nodes the calculator is benchmarked with. Beyond it
# an epoch close would take minutes in one worker task; refuse instead of timing out halfway.

REASON_JAILED: Final[str] = "jailed"
REASON_TOMBSTONED: Final[str] = "tombstoned"
REASON_UNDER_STAKED: Final[str] = "under_staked"
REASON_INSUFFICIENT_HEARTBEATS: Final[str] = "insufficient_heartbeats"
# Reasons are always reported in this order, so receipts of equal inputs are equal.
INELIGIBILITY_REASONS: Final[tuple[str, ...]] = (
    REASON_JAILED,
    REASON_TOMBSTONED,
    REASON_UNDER_STAKED,
    REASON_INSUFFICIENT_HEARTBEATS,
)
# Reasons that perfect performance cannot remove; the ideal of such a node is 0.
_NON_PERFORMANCE_REASONS: Final[frozenset[str]] = frozenset(
    {REASON_JAILED, REASON_TOMBSTONED, REASON_UNDER_STAKED}
)

RESOURCE_GPU: Final[str] = "gpu"
RESOURCE_STORAGE: Final[str] = "storage"
RESOURCE_BANDWIDTH: Final[str] = "bandwidth"
_STORAGE_PROVIDER_TYPE: Final[str] = "storage_center"

_ADDRESS_RE: Final[re.Pattern[str]] = re.compile(r"0x[0-9a-f]{40}")
_INPUTS_FORMAT: Final[str] = "swarm-rewards-inputs-v1"


class RewardInputError(InvalidInput, ValueError):
    """Inputs the calculator refuses, with the offending field named and a stable code."""

    default_code = "invalid_reward_input"


def _require_int(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    # bool is an int subclass and float is what the module keeps out; both are refused.
    if isinstance(value, bool) or not isinstance(value, int):
        raise RewardInputError(f"must be an int, not {type(value).__name__}", field=name)
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f"{low} .. {high}" if high is not None else f">= {low}"
        raise RewardInputError(f"must be {bound}, got {value}", field=name)
    return value


def _require_str(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise RewardInputError("must be a non-empty str", field=name)
    return value


def _require_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise RewardInputError(f"must be a bool, not {type(value).__name__}", field=name)
    return value


def _clamp(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class NodeRewardInput:
    """Everything the calculator needs to know about one node for one epoch.

    ``capacity_units_ppm`` is the node's capacity units x 1e6, already derived from its
    verified hardware profile. ``standing_ppm`` is 1_000_000 in good standing and lower under a
    penalty or during restoration after a jail (SPEC 4.4). ``provider_type`` and
    ``commitment_tier`` are names defined by the epoch's parameter set, checked by
    :func:`compute_epoch`.
    """

    node_id: str
    provider_id: str
    provider_type: str
    region: str
    capacity_units_ppm: int
    commitment_tier: str
    standing_ppm: int
    jailed: bool
    tombstoned: bool
    under_staked: bool
    rollup: NodeEpochRollup

    def __post_init__(self) -> None:
        _require_str("node_id", self.node_id)
        if not isinstance(self.provider_id, str) or not _ADDRESS_RE.fullmatch(self.provider_id):
            raise RewardInputError(
                f"must be a lower-case 0x address, got {self.provider_id!r}", field="provider_id"
            )
        _require_str("provider_type", self.provider_type)
        _require_str("region", self.region)
        _require_int("capacity_units_ppm", self.capacity_units_ppm, 0)
        _require_str("commitment_tier", self.commitment_tier)
        _require_int("standing_ppm", self.standing_ppm, 0, PPM)
        _require_bool("jailed", self.jailed)
        _require_bool("tombstoned", self.tombstoned)
        _require_bool("under_staked", self.under_staked)
        if not isinstance(self.rollup, NodeEpochRollup):
            raise RewardInputError("must be a NodeEpochRollup", field="rollup")
        if self.rollup.node_id != self.node_id:
            raise RewardInputError(
                f"is {self.rollup.node_id!r}, not the node {self.node_id!r}", field="rollup.node_id"
            )


@dataclass(frozen=True, slots=True)
class NetworkConditions:
    """Network-wide inputs of one epoch.

    ``utilization_ppm`` is the share of job capacity used (0 .. 1e6). Prices are in one unit of
    the caller's choice (e.g. micro-USD); ``None`` for either means no price feed.
    ``resource_demand_supply_ppm`` maps a resource class (``gpu``, ``storage``, ``bandwidth``)
    to its demand/supply ratio in ppm; a missing class is neutral (the scarcity pivot, 0.7,
    which gives a multiplier of exactly 1.0 with the default parameters).
    """

    utilization_ppm: int
    active_nodes: int
    reference_price: int | None = None
    current_price: int | None = None
    resource_demand_supply_ppm: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_int("utilization_ppm", self.utilization_ppm, 0, PPM)
        _require_int("active_nodes", self.active_nodes, 0)
        # A zero or negative price is a broken feed, not a market signal; the caller passes
        # None instead and gets the neutral no-feed factor.
        if self.reference_price is not None:
            _require_int("reference_price", self.reference_price, 1)
        if self.current_price is not None:
            _require_int("current_price", self.current_price, 1)
        if not isinstance(self.resource_demand_supply_ppm, Mapping):
            raise RewardInputError("must be a mapping", field="resource_demand_supply_ppm")
        copied: dict[str, int] = {}
        for name in sorted(self.resource_demand_supply_ppm):
            _require_str("resource_demand_supply_ppm", name)
            copied[name] = _require_int(
                f"resource_demand_supply_ppm[{name}]", self.resource_demand_supply_ppm[name], 0
            )
        # A private sorted copy behind a read-only view: the caller's dict may change later.
        object.__setattr__(self, "resource_demand_supply_ppm", MappingProxyType(copied))

    @property
    def has_price_feed(self) -> bool:
        """Whether both prices are known, so the market factor is computed."""
        return self.reference_price is not None and self.current_price is not None


# --------------------------------------------------------------------------------------------
# 1. Pool and dynamic scaling


@dataclass(frozen=True, slots=True)
class PoolScale:
    """Every factor of the epoch's dynamic reward scaling, in ppm.

    ``target_scale_ppm`` is ``demand x growth x market`` (rounded down once),
    ``clamped_scale_ppm`` that clamped to the bounds, ``scale_ppm`` the final, rate-limited
    scale, ``previous_scale_ppm`` the scale it was rate-limited against.
    """

    demand_factor_ppm: int
    growth_factor_ppm: int
    market_factor_ppm: int
    target_scale_ppm: int
    clamped_scale_ppm: int
    previous_scale_ppm: int
    scale_ppm: int

    @property
    def rate_limited(self) -> bool:
        """Whether the per-epoch step limit held the scale back from its clamped target."""
        return self.scale_ppm != self.clamped_scale_ppm


def demand_factor_ppm(utilization_ppm: int, pool: PoolParams) -> int:
    """Return the demand factor ``intercept + slope x u`` in ppm (0.8 + 0.4u by default).

    ``slope x u / 1e6`` rounds down.
    """
    _require_int("utilization_ppm", utilization_ppm, 0, PPM)
    return pool.demand_factor_intercept_ppm + mul_div(
        pool.demand_factor_slope_ppm, utilization_ppm, PPM, Rounding.DOWN
    )


def growth_factor_ppm(active_nodes: int, pool: PoolParams) -> int:
    """Return the growth-phase factor in ppm.

    ``1 + (growth_max - 1) x shortfall / target`` with ``shortfall = target - active`` while
    ``active < target`` (1.25 at zero nodes by default), and exactly 1.0 at or above the target
    or when the target is 0. The fraction rounds down.
    """
    _require_int("active_nodes", active_nodes, 0)
    target = pool.growth_target_nodes
    if target == 0 or active_nodes >= target:
        return PPM
    shortfall = target - active_nodes
    return PPM + mul_div(pool.growth_factor_max_ppm - PPM, shortfall, target, Rounding.DOWN)


def market_factor_ppm(
    reference_price: int | None, current_price: int | None, pool: PoolParams
) -> int:
    """Return the market factor ``reference / current`` in ppm, clamped to its bounds.

    The ratio rounds down before clamping. Without a feed (either price ``None``) it is
    ``market_factor_no_feed_ppm`` (1.0 by default).
    """
    if reference_price is None or current_price is None:
        return pool.market_factor_no_feed_ppm
    _require_int("reference_price", reference_price, 1)
    _require_int("current_price", current_price, 1)
    ratio = mul_div(reference_price, PPM, current_price, Rounding.DOWN)
    return _clamp(ratio, pool.market_factor_min_ppm, pool.market_factor_max_ppm)


def compute_pool_scale(
    network: NetworkConditions, previous_scale_ppm: int | None, params: ParameterSet
) -> PoolScale:
    """Return the epoch's scale and all its factors (SPEC 4.1).

    The three factors multiply into the target with one division by 1e12, rounded down. The
    target is clamped to ``[scale_min, scale_max]``; the step limit then keeps the result within
    ``previous x (1 +- scale_max_step)``, the step rounded down so the move never exceeds it.
    ``previous_scale_ppm=None`` (the first epoch) uses ``scale_initial_ppm``. Should the previous
    scale lie outside the current bounds (governance narrowed them), the bounds win: the result
    is clamped to them again after the step limit.
    """
    pool = params.pool
    previous = (
        pool.scale_initial_ppm
        if previous_scale_ppm is None
        else _require_int("previous_scale_ppm", previous_scale_ppm, 0)
    )
    demand = demand_factor_ppm(network.utilization_ppm, pool)
    growth = growth_factor_ppm(network.active_nodes, pool)
    market = market_factor_ppm(network.reference_price, network.current_price, pool)
    target = mul_div(demand * growth, market, PPM * PPM, Rounding.DOWN)
    clamped = _clamp(target, pool.scale_min_ppm, pool.scale_max_ppm)
    step = mul_div(previous, pool.scale_max_step_ppm, PPM, Rounding.DOWN)
    limited = _clamp(clamped, previous - step, previous + step)
    scale = _clamp(limited, pool.scale_min_ppm, pool.scale_max_ppm)
    return PoolScale(
        demand_factor_ppm=demand,
        growth_factor_ppm=growth,
        market_factor_ppm=market,
        target_scale_ppm=target,
        clamped_scale_ppm=clamped,
        previous_scale_ppm=previous,
        scale_ppm=scale,
    )


# --------------------------------------------------------------------------------------------
# 2. Eligibility and 3. performance scores


def eligibility_reasons(node: NodeRewardInput, params: ParameterSet) -> tuple[str, ...]:
    """Return why ``node`` earns nothing this epoch, in :data:`INELIGIBILITY_REASONS` order.

    Empty means eligible. Heartbeats count against the expected ones outside declared
    maintenance (``NodeEpochRollup.received_ppm``).
    """
    return _reasons(node, node.rollup.received_ppm, params.telemetry.min_heartbeats_ppm)


def _reasons(node: NodeRewardInput, received_ppm: int, min_heartbeats_ppm: int) -> tuple[str, ...]:
    insufficient = received_ppm < min_heartbeats_ppm
    if not (node.jailed or node.tombstoned or node.under_staked or insufficient):
        return ()  # the common case, without building a list
    reasons: list[str] = []
    if node.jailed:
        reasons.append(REASON_JAILED)
    if node.tombstoned:
        reasons.append(REASON_TOMBSTONED)
    if node.under_staked:
        reasons.append(REASON_UNDER_STAKED)
    if insufficient:
        reasons.append(REASON_INSUFFICIENT_HEARTBEATS)
    return tuple(reasons)


def uptime_score_ppm(uptime_ppm: int, performance: PerformanceParams) -> int:
    """Return the uptime score: 0 below the floor (90%), 1e6 from the target (99.9%) up.

    In between it rises linearly, ``(uptime - floor) x 1e6 / (target - floor)`` rounded down; at
    exactly the floor it is 0.
    """
    floor = performance.uptime_floor_ppm
    target = performance.uptime_target_ppm
    if uptime_ppm < floor:
        return 0
    if uptime_ppm >= target:
        return PPM
    return mul_div(uptime_ppm - floor, PPM, target - floor, Rounding.DOWN)


def error_rate_score_ppm(error_rate_ppm: int | None, performance: PerformanceParams) -> int:
    """Return the error rate score ``max(0, 1 - err / 5%)`` in ppm, rounded down.

    ``None`` (the node ran no job) scores ``no_jobs_error_score_ppm`` (1.0 by default).
    """
    if error_rate_ppm is None:
        return performance.no_jobs_error_score_ppm
    zero_at = performance.error_rate_zero_score_ppm
    if error_rate_ppm >= zero_at:
        return 0
    return mul_div(zero_at - error_rate_ppm, PPM, zero_at, Rounding.DOWN)


def response_time_score_ppm(latency_p50_ms: int | None, latency_target_ms: int) -> int:
    """Return the response time score ``min(1, target / p50)`` in ppm, rounded down.

    ``None`` (no latency received) scores 0: an unmeasured node is not a fast one. A p50 of
    0 ms is at or under any target and scores 1e6.
    """
    if latency_p50_ms is None:
        return 0
    if latency_p50_ms <= latency_target_ms:
        return PPM
    return mul_div(latency_target_ms, PPM, latency_p50_ms, Rounding.DOWN)


def rating_percentiles_ppm(ratings: Sequence[tuple[int, int]]) -> list[int | None]:
    """Return each node's user rating percentile in ppm, ``None`` for unrated nodes.

    ``ratings[i]`` is ``(rating_sum, rating_count)``; a node is rated when the count is
    positive. Among the ``n`` rated nodes, node ``i`` with mean ``m_i = sum_i / count_i``
    scores ``(lower_i + ties_i / 2) / (n - 1)`` where ``lower_i`` counts rated nodes with a
    strictly lower mean and ``ties_i`` the *other* rated nodes with an equal mean; computed as
    ``(2 lower + ties) x 1e6 / (2 (n - 1))`` rounded down. The lowest mean scores 0, the highest
    1e6, and when all means are equal everyone scores 0.5. A single rated node scores 1e6.

    The means are compared exactly without fractions: with ``C`` the largest count and
    ``K = C^2 + 1``, the integer key ``floor(sum x K / count)`` orders the means exactly (two
    different means differ by at least ``1 / C^2``, so their keys differ), which lets one sort
    plus binary searches do the ranking in O(n log n).
    """
    rated = [(s, c) for s, c in ratings if c > 0]
    n = len(rated)
    if n == 0:
        return [None] * len(ratings)
    max_count = max(c for _, c in rated)
    scale = max_count * max_count + 1
    sorted_keys = sorted(s * scale // c for s, c in rated)  # floor; exact order, see above
    denominator = 2 * (n - 1)
    result: list[int | None] = []
    for s, c in ratings:
        if c <= 0:
            result.append(None)
            continue
        if n == 1:
            result.append(PPM)
            continue
        key = s * scale // c
        lower = bisect.bisect_left(sorted_keys, key)
        ties = bisect.bisect_right(sorted_keys, key, lower) - lower - 1
        result.append(mul_div(2 * lower + ties, PPM, denominator, Rounding.DOWN))
    return result


def performance_ppm(
    uptime_score: int,
    error_rate_score: int,
    response_time_score: int,
    user_rating_score: int,
    performance: PerformanceParams,
) -> int:
    """Return ``sum(weight_m x score_m) / 1e6`` in ppm, one division rounded down.

    The metric weights sum to 1e6 (the parameter set enforces it), so perfect scores give
    exactly 1e6.
    """
    total = (
        performance.weight_uptime_ppm * uptime_score
        + performance.weight_error_rate_ppm * error_rate_score
        + performance.weight_response_time_ppm * response_time_score
        + performance.weight_user_rating_ppm * user_rating_score
    )
    return mul_div(total, 1, PPM, Rounding.DOWN)


# --------------------------------------------------------------------------------------------
# 4. Multipliers


def resource_class(provider: ProviderTypeParams) -> str:
    """Return the scarcity resource class a provider type's nodes contribute.

    ``storage_center`` nodes are storage, edge-category types (edge_provider, edge_location,
    regional_hub) bandwidth, every other type (individual, gaming_pc, workstation, data_center,
    gpu_cluster) gpu. SPEC 4.4 names the classes but not the mapping; this is the v1 choice,
    following what each type is documented to be for (SPEC 2).
    """
    if provider.name == _STORAGE_PROVIDER_TYPE:
        return RESOURCE_STORAGE
    if provider.category == CATEGORY_EDGE:
        return RESOURCE_BANDWIDTH
    return RESOURCE_GPU


def scarcity_multiplier_ppm(demand_supply_ppm: int | None, multipliers: MultiplierParams) -> int:
    """Return ``clamp(1 + 0.5 x (demand/supply - 0.7), 0.8, 1.5)`` in ppm.

    The slope term ``slope x (ratio - pivot) / 1e6`` is floored (toward minus infinity when the
    ratio is below the pivot). ``None`` (no figure for the class) is the pivot itself, which
    gives ``scarcity_base_ppm``, clamped like any other value.
    """
    ratio = multipliers.scarcity_pivot_ppm if demand_supply_ppm is None else demand_supply_ppm
    # Python's // floors, the same as Rounding.DOWN for the non-negative case; mul_div is not
    # used because its DOWN is documented for money, which is never negative.
    delta = multipliers.scarcity_slope_ppm * (ratio - multipliers.scarcity_pivot_ppm) // PPM
    return _clamp(
        multipliers.scarcity_base_ppm + delta,
        multipliers.scarcity_min_ppm,
        multipliers.scarcity_max_ppm,
    )


# --------------------------------------------------------------------------------------------
# 5. Exact allocation


def allocate_exact(
    pool_base_units: int, weights: Sequence[int], tie_keys: Sequence[str]
) -> list[int]:
    """Split ``pool_base_units`` in proportion to ``weights``, exactly (SPEC 4.6).

    ``floor(pool x w_i / sum(w))`` each; the ``pool - sum(floors)`` leftover base units (fewer
    than the number of weights) go one each to the largest remainders ``pool x w_i mod sum(w)``,
    equal remainders ordered by ``tie_keys`` ascending. The result sums to the pool exactly. A
    zero weight never receives anything. When every weight is 0 nothing can be split and all
    amounts are 0; the caller reports the pool as undistributed.
    """
    _require_int("pool_base_units", pool_base_units, 0)
    if len(weights) != len(tie_keys):
        raise ValueError("weights and tie_keys must have the same length")
    total = 0
    for i, w in enumerate(weights):
        total += _require_int(f"weights[{i}]", w, 0)
    if total == 0:
        return [0] * len(weights)
    amounts: list[int] = []
    remainders: list[int] = []
    for w in weights:
        q, r = divmod(pool_base_units * w, total)  # floor: the remainder is ranked below
        amounts.append(q)
        remainders.append(r)
    leftover = pool_base_units - sum(amounts)
    if leftover:
        # Largest remainder first; equal remainders by tie key. Every remainder is below
        # `total` and they sum to leftover x total, so more than `leftover` of them are
        # positive and the units never reach a zero-weight (zero-remainder) entry.
        order = sorted(range(len(weights)), key=lambda i: (-remainders[i], tie_keys[i]))
        for i in order[:leftover]:
            amounts[i] += 1
    return amounts


# --------------------------------------------------------------------------------------------
# 6./7. Outputs


class RewardReceipt(NamedTuple):
    """One node's reward for one epoch and every input that produced it (SPEC 4.5).

    ``weight`` is the exact product of the seven ppm factors (so in units of 1e-42 capacity
    units); ``ideal_weight`` the same with perfect performance and good standing.
    ``ideal_base_units`` is what the node would have earned that way with every other node
    unchanged; it is never below ``amount_base_units``.

    Immutable like the other results, but a ``NamedTuple`` rather than a frozen dataclass: an
    epoch builds one per node, and a frozen dataclass of this many fields sets each through
    ``object.__setattr__``, which made receipts half the cost of a 100k-node epoch.
    """

    epoch: int
    node_id: str
    provider_id: str
    provider_type: str
    region: str
    resource_class: str
    commitment_tier: str
    # Rollup figures used.
    heartbeats_expected: int
    heartbeats_received: int
    heartbeats_up: int
    heartbeats_excused: int
    uptime_ppm: int
    received_ppm: int
    jobs_ok: int
    jobs_failed: int
    error_rate_ppm: int | None
    latency_p50_ms: int | None
    latency_target_ms: int
    rating_sum: int
    rating_count: int
    # Eligibility.
    jailed: bool
    tombstoned: bool
    under_staked: bool
    eligible: bool
    ineligible_reasons: tuple[str, ...]
    # Scores.
    uptime_score_ppm: int
    error_rate_score_ppm: int
    response_time_score_ppm: int
    user_rating_score_ppm: int
    user_rated: bool
    performance_ppm: int
    # Multipliers.
    capacity_units_ppm: int
    type_multiplier_ppm: int
    commitment_multiplier_ppm: int
    scarcity_multiplier_ppm: int
    region_multiplier_ppm: int
    standing_ppm: int
    # Result.
    weight: int
    ideal_weight: int
    amount_base_units: int
    ideal_base_units: int
    params_version: int
    params_hash: str
    calculator_version: str

    @property
    def shortfall_base_units(self) -> int:
        """What imperfect performance and standing cost this epoch: ideal minus actual."""
        return self.ideal_base_units - self.amount_base_units

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict: amounts and weights as decimal strings (they exceed 2**53),
        other integers as ints, the reasons as a list."""
        out: dict[str, object] = {}
        for name, value in zip(self._fields, self, strict=True):
            if name in _STRING_INT_FIELDS:
                out[name] = str(value)
            elif isinstance(value, tuple):
                out[name] = list(value)
            else:
                out[name] = value
        return out


_STRING_INT_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "weight",
        "ideal_weight",
        "amount_base_units",
        "ideal_base_units",
        "pool_base_units",
        "base_emission_base_units",
        "undistributed_base_units",
        "total_weight",
    }
)


@dataclass(frozen=True, slots=True)
class EpochRewards:
    """The result of closing one reward epoch.

    ``sum(r.amount_base_units for r in receipts) + undistributed_base_units == pool_base_units``
    always; ``undistributed_base_units`` is the whole pool when no node has weight and 0
    otherwise. Receipts are sorted by node id; ``provider_totals`` maps each provider address
    to the sum of its nodes' amounts (sorted by address, zero totals included).
    """

    epoch: int
    base_emission_base_units: int
    pool_base_units: int
    scale: PoolScale
    total_weight: int
    eligible_nodes: int
    rated_nodes: int
    receipts: tuple[RewardReceipt, ...]
    undistributed_base_units: int
    provider_totals: Mapping[str, int]
    params_version: int
    params_hash: str
    calculator_version: str

    @property
    def distributed_base_units(self) -> int:
        """The part of the pool paid to nodes."""
        return self.pool_base_units - self.undistributed_base_units

    def receipt(self, node_id: str) -> RewardReceipt:
        """Return the receipt of ``node_id``; ``KeyError`` if the node was not in the epoch."""
        # Receipts are sorted by node id: a binary search, not a scan.
        i = bisect.bisect_left(self.receipts, node_id, key=_receipt_node_id)
        if i < len(self.receipts) and self.receipts[i].node_id == node_id:
            return self.receipts[i]
        raise KeyError(f"node {node_id!r} is not in epoch {self.epoch}")

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (amounts and weights as decimal strings)."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _STRING_INT_FIELDS:
                out[f.name] = str(value)
            elif f.name == "scale":
                out[f.name] = {g.name: getattr(value, g.name) for g in fields(value)}
            elif f.name == "receipts":
                out[f.name] = [r.to_dict() for r in value]
            elif f.name == "provider_totals":
                out[f.name] = {k: str(v) for k, v in value.items()}
            else:
                out[f.name] = value
        return out


# --------------------------------------------------------------------------------------------
# The epoch computation


def compute_epoch(
    epoch: int,
    nodes: Sequence[NodeRewardInput],
    network: NetworkConditions,
    previous_scale_ppm: int | None,
    params: ParameterSet,
) -> EpochRewards:
    """Compute every node's reward of ``epoch`` exactly (SPEC 4).

    ``nodes`` may come in any order (the result is the same); node ids must be unique and each
    rollup must belong to its node and to ``epoch``. ``previous_scale_ppm`` is the scale the
    previous epoch used (``None`` for the first epoch). Unknown commitment tiers or resource
    classes and inconsistent rollups raise :class:`RewardInputError`, an unknown provider type
    the parameter set's ``UnknownProviderTypeError``, rather than paying anyone on a guess.

    Ideal amounts: for node ``i`` with ideal weight ``v_i`` and actual weight ``w_i``,
    ``ideal_i = max(amount_i, floor(pool x v_i / (sum(w) - w_i + v_i)))``: the allocation
    formula without the remainder step (an exact remainder step per node would cost O(n^2)),
    and never below what the node actually got, since its remainder unit is earned too.
    """
    _require_int("epoch", epoch, 0)
    if len(nodes) > MAX_NODES_PER_EPOCH:
        raise RewardInputError(f"at most {MAX_NODES_PER_EPOCH} nodes per epoch", field="nodes")
    classes = params.multipliers.scarcity_resource_classes
    for name in network.resource_demand_supply_ppm:
        if name not in classes:
            raise RewardInputError(
                f"unknown resource class {name!r}; known: {', '.join(classes)}",
                field="resource_demand_supply_ppm",
            )

    # Canonical order first: everything below, including the tie-break, follows node id order,
    # so the input order cannot change the result.
    ordered = sorted(nodes, key=_node_id_key)
    for prev, cur in itertools.pairwise(ordered):
        if prev.node_id == cur.node_id:
            raise RewardInputError(f"duplicate node_id {cur.node_id!r}", field="nodes")

    scale = compute_pool_scale(network, previous_scale_ppm, params)
    pool_base_units = mul_div(
        params.pool.base_emission_per_epoch_base_units, scale.scale_ppm, PPM, Rounding.DOWN
    )

    perf_params = params.performance
    mult = params.multipliers
    rating_min = params.telemetry.user_rating_min
    rating_max = params.telemetry.user_rating_max
    good_standing = mult.standing_good_ppm
    min_heartbeats_ppm = params.telemetry.min_heartbeats_ppm
    underserved = frozenset(mult.underserved_regions)
    # Per-type, per-class and per-tier figures are looked up once, not once per node.
    type_rows: dict[str, ProviderTypeParams] = {}
    tier_ppm = {t.name: t.multiplier_ppm for t in mult.commitment_tiers}
    scarcity_by_class = {
        name: scarcity_multiplier_ppm(network.resource_demand_supply_ppm.get(name), mult)
        for name in classes
    }

    for node in ordered:
        r = node.rollup
        if r.epoch != epoch:
            raise RewardInputError(
                f"is {r.epoch}, not epoch {epoch}", field=f"nodes[{node.node_id}].rollup.epoch"
            )
        if r.rating_count < 0 or not (
            rating_min * r.rating_count <= r.rating_sum <= rating_max * r.rating_count
        ):
            raise RewardInputError(
                f"{r.rating_sum} over {r.rating_count} ratings is outside "
                f"{rating_min} .. {rating_max} each",
                field=f"nodes[{node.node_id}].rollup.rating_sum",
            )
        if node.provider_type not in type_rows:
            type_rows[node.provider_type] = params.provider_type(node.provider_type)
        if node.commitment_tier not in tier_ppm:
            raise RewardInputError(
                f"unknown commitment tier {node.commitment_tier!r}; known: {', '.join(tier_ppm)}",
                field=f"nodes[{node.node_id}].commitment_tier",
            )
    percentiles = rating_percentiles_ppm(
        [(n.rollup.rating_sum, n.rollup.rating_count) for n in ordered]
    )
    rated_nodes = sum(1 for p in percentiles if p is not None)

    weights: list[int] = []
    ideal_weights: list[int] = []
    drafts: list[_Draft] = []
    # Scores depend on a handful of integers that repeat across nodes (uptime has at most
    # heartbeats_expected + 1 values), so each is computed once per distinct input and the
    # per-node cost is a dictionary lookup, while the public score functions stay the one
    # definition of each score.
    uptime_scores: dict[int, int] = {}
    error_scores: dict[int | None, int] = {}
    response_scores: dict[tuple[int | None, int], int] = {}
    performances: dict[tuple[int, int, int, int], int] = {}
    for node, percentile in zip(ordered, percentiles, strict=True):
        r = node.rollup
        row = type_rows[node.provider_type]
        uptime = r.uptime_ppm
        received = r.received_ppm
        error_rate = r.error_rate_ppm
        reasons = _reasons(node, received, min_heartbeats_ppm)
        eligible = not reasons

        s_uptime = uptime_scores.get(uptime)
        if s_uptime is None:
            s_uptime = uptime_scores[uptime] = uptime_score_ppm(uptime, perf_params)
        s_error = error_scores.get(error_rate)
        if s_error is None:
            s_error = error_scores[error_rate] = error_rate_score_ppm(error_rate, perf_params)
        latency_key = (r.latency_p50_ms, row.latency_target_ms)
        s_response = response_scores.get(latency_key)
        if s_response is None:
            s_response = response_scores[latency_key] = response_time_score_ppm(*latency_key)
        s_rating = perf_params.unrated_rating_score_ppm if percentile is None else percentile
        score_key = (s_uptime, s_error, s_response, s_rating)
        perf = performances.get(score_key)
        if perf is None:
            perf = performances[score_key] = performance_ppm(*score_key, perf_params)

        rclass = resource_class(row)
        # A class the parameter set does not list has no scarcity signal: neutral 1.0.
        scarcity = scarcity_by_class.get(rclass, PPM)
        region_ppm = (
            mult.region_underserved_multiplier_ppm
            if node.region in underserved
            else mult.region_default_multiplier_ppm
        )
        commitment = tier_ppm[node.commitment_tier]
        # The factors that depend on neither performance nor standing, shared with the ideal.
        base = node.capacity_units_ppm * row.type_multiplier_ppm * commitment
        base = base * scarcity * region_ppm
        weights.append(base * perf * node.standing_ppm if eligible else 0)
        can_earn = _NON_PERFORMANCE_REASONS.isdisjoint(reasons)
        ideal_weights.append(base * PPM * good_standing if can_earn else 0)
        drafts.append(
            _Draft(
                reasons=reasons,
                uptime=uptime,
                received=received,
                error_rate=error_rate,
                uptime_score=s_uptime,
                error_rate_score=s_error,
                response_time_score=s_response,
                user_rating_score=s_rating,
                rated=percentile is not None,
                performance=perf,
                resource_class=rclass,
                scarcity=scarcity,
                region=region_ppm,
                commitment=commitment,
                row=row,
            )
        )

    total_weight = sum(weights)
    amounts = allocate_exact(pool_base_units, weights, [n.node_id for n in ordered])
    undistributed = pool_base_units - sum(amounts)

    params_version = params.version
    params_hash = params.content_hash()
    receipts: list[RewardReceipt] = []
    provider_totals: dict[str, int] = {}
    for node, w, v, amount, d in zip(ordered, weights, ideal_weights, amounts, drafts, strict=True):
        r = node.rollup
        denominator = total_weight - w + v
        # Floor, like the allocation; the max() keeps the node's own remainder unit (see above).
        ideal_floor = mul_div(pool_base_units, v, denominator, Rounding.DOWN) if v else 0
        receipts.append(
            RewardReceipt(
                epoch=epoch,
                node_id=node.node_id,
                provider_id=node.provider_id,
                provider_type=node.provider_type,
                region=node.region,
                resource_class=d.resource_class,
                commitment_tier=node.commitment_tier,
                heartbeats_expected=r.heartbeats_expected,
                heartbeats_received=r.heartbeats_received,
                heartbeats_up=r.heartbeats_up,
                heartbeats_excused=r.heartbeats_excused,
                uptime_ppm=d.uptime,
                received_ppm=d.received,
                jobs_ok=r.jobs_ok,
                jobs_failed=r.jobs_failed,
                error_rate_ppm=d.error_rate,
                latency_p50_ms=r.latency_p50_ms,
                latency_target_ms=d.row.latency_target_ms,
                rating_sum=r.rating_sum,
                rating_count=r.rating_count,
                jailed=node.jailed,
                tombstoned=node.tombstoned,
                under_staked=node.under_staked,
                eligible=not d.reasons,
                ineligible_reasons=d.reasons,
                uptime_score_ppm=d.uptime_score,
                error_rate_score_ppm=d.error_rate_score,
                response_time_score_ppm=d.response_time_score,
                user_rating_score_ppm=d.user_rating_score,
                user_rated=d.rated,
                performance_ppm=d.performance,
                capacity_units_ppm=node.capacity_units_ppm,
                type_multiplier_ppm=d.row.type_multiplier_ppm,
                commitment_multiplier_ppm=d.commitment,
                scarcity_multiplier_ppm=d.scarcity,
                region_multiplier_ppm=d.region,
                standing_ppm=node.standing_ppm,
                weight=w,
                ideal_weight=v,
                amount_base_units=amount,
                ideal_base_units=max(amount, ideal_floor),
                params_version=params_version,
                params_hash=params_hash,
                calculator_version=CALCULATOR_VERSION,
            )
        )
        provider_totals[node.provider_id] = provider_totals.get(node.provider_id, 0) + amount

    return EpochRewards(
        epoch=epoch,
        base_emission_base_units=params.pool.base_emission_per_epoch_base_units,
        pool_base_units=pool_base_units,
        scale=scale,
        total_weight=total_weight,
        eligible_nodes=sum(1 for d in drafts if not d.reasons),
        rated_nodes=rated_nodes,
        receipts=tuple(receipts),
        undistributed_base_units=undistributed,
        provider_totals=MappingProxyType(dict(sorted(provider_totals.items()))),
        params_version=params_version,
        params_hash=params_hash,
        calculator_version=CALCULATOR_VERSION,
    )


def _node_id_key(node: NodeRewardInput) -> str:
    return node.node_id


def _receipt_node_id(receipt: RewardReceipt) -> str:
    return receipt.node_id


class _Draft(NamedTuple):
    """Per-node figures of the first pass, kept until the amounts are known."""

    reasons: tuple[str, ...]
    uptime: int
    received: int
    error_rate: int | None
    uptime_score: int
    error_rate_score: int
    response_time_score: int
    user_rating_score: int
    rated: bool
    performance: int
    resource_class: str
    scarcity: int
    region: int
    commitment: int
    row: ProviderTypeParams


# --------------------------------------------------------------------------------------------
# Provenance


def inputs_digest(nodes: Sequence[NodeRewardInput], network: NetworkConditions) -> str:
    """Return the SHA-256 hex of an epoch's inputs in canonical form.

    The hashed text is a header line, the network conditions as canonical JSON (sorted keys,
    no whitespace, ASCII), then one line per node sorted by node id::

        node_id|provider_id|provider_type|region|capacity_units_ppm|commitment_tier|
        standing_ppm|jailed|tombstoned|under_staked|epoch|expected|received|up|excused|
        latency_p50_ms|jobs_ok|jobs_failed|gpu_util_ppm_sum|bandwidth_mbps_sum|rating_sum|
        rating_count|ms:count,ms:count,...

    (booleans 0/1, absent latency empty, histogram sorted by ms). Ids, types and regions cannot
    contain ``|``, so the lines are unambiguous. Order-independent; any changed input changes
    it. Streamed line by line: 100,000 nodes hash in a fraction of a second.
    """
    h = hashlib.sha256()
    net = {
        "utilization_ppm": network.utilization_ppm,
        "active_nodes": network.active_nodes,
        "reference_price": network.reference_price,
        "current_price": network.current_price,
        "resource_demand_supply_ppm": dict(network.resource_demand_supply_ppm),
    }
    h.update(f"{_INPUTS_FORMAT}\n".encode("ascii"))
    h.update(json.dumps(net, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode())
    h.update(b"\n")
    lines = []
    for n in sorted(nodes, key=_node_id_key):
        r = n.rollup
        hist = ",".join(f"{ms}:{c}" for ms, c in sorted(r.latency_histogram.items()))
        p50 = "" if r.latency_p50_ms is None else r.latency_p50_ms
        lines.append(
            f"{n.node_id}|{n.provider_id}|{n.provider_type}|{n.region}|{n.capacity_units_ppm}|"
            f"{n.commitment_tier}|{n.standing_ppm}|{n.jailed:d}|{n.tombstoned:d}|"
            f"{n.under_staked:d}|{r.epoch}|{r.heartbeats_expected}|{r.heartbeats_received}|"
            f"{r.heartbeats_up}|{r.heartbeats_excused}|{p50}|{r.jobs_ok}|{r.jobs_failed}|"
            f"{r.gpu_util_ppm_sum}|{r.bandwidth_mbps_sum}|{r.rating_sum}|{r.rating_count}|"
            f"{hist}\n"
        )
        if len(lines) >= 4096:
            h.update("".join(lines).encode())
            lines.clear()
    h.update("".join(lines).encode())
    return h.hexdigest()
