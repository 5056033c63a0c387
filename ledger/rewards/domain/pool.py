"""Step 1 of an epoch: the reward pool and its dynamic scaling (SPEC 4.1).

``scale = demand x growth x market`` (each factor in ppm), clamped to ``[scale_min, scale_max]``,
then moved at most ``scale_max_step`` (relative) away from the previous epoch's scale.
``pool = base_emission x scale / 1e6``, rounded down.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.kit.money import PPM, Rounding, mul_div
from ledger.params.domain import ParameterSet, PoolParams
from ledger.rewards.domain.inputs import NetworkConditions, clamp, require_int

__all__ = [
    "PoolScale",
    "compute_pool_scale",
    "demand_factor_ppm",
    "growth_factor_ppm",
    "market_factor_ppm",
    "pool_base_units",
]


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
    require_int("utilization_ppm", utilization_ppm, 0, PPM)
    return pool.demand_factor_intercept_ppm + mul_div(
        pool.demand_factor_slope_ppm, utilization_ppm, PPM, Rounding.DOWN
    )


def growth_factor_ppm(active_nodes: int, pool: PoolParams) -> int:
    """Return the growth-phase factor in ppm.

    ``1 + (growth_max - 1) x shortfall / target`` with ``shortfall = target - active`` while
    ``active < target`` (1.25 at zero nodes by default), and exactly 1.0 at or above the target
    or when the target is 0. The fraction rounds down.
    """
    require_int("active_nodes", active_nodes, 0)
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
    require_int("reference_price", reference_price, 1)
    require_int("current_price", current_price, 1)
    ratio = mul_div(reference_price, PPM, current_price, Rounding.DOWN)
    return clamp(ratio, pool.market_factor_min_ppm, pool.market_factor_max_ppm)


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
        else require_int("previous_scale_ppm", previous_scale_ppm, 0)
    )
    demand = demand_factor_ppm(network.utilization_ppm, pool)
    growth = growth_factor_ppm(network.active_nodes, pool)
    market = market_factor_ppm(network.reference_price, network.current_price, pool)
    target = mul_div(demand * growth, market, PPM * PPM, Rounding.DOWN)
    clamped = clamp(target, pool.scale_min_ppm, pool.scale_max_ppm)
    step = mul_div(previous, pool.scale_max_step_ppm, PPM, Rounding.DOWN)
    limited = clamp(clamped, previous - step, previous + step)
    scale = clamp(limited, pool.scale_min_ppm, pool.scale_max_ppm)
    # The bounds always hold; the step limit too, unless the previous scale lay outside them.
    assert pool.scale_min_ppm <= scale <= pool.scale_max_ppm
    assert abs(scale - previous) <= step or not (
        pool.scale_min_ppm <= previous <= pool.scale_max_ppm
    )
    return PoolScale(
        demand_factor_ppm=demand,
        growth_factor_ppm=growth,
        market_factor_ppm=market,
        target_scale_ppm=target,
        clamped_scale_ppm=clamped,
        previous_scale_ppm=previous,
        scale_ppm=scale,
    )


def pool_base_units(scale_ppm: int, pool: PoolParams) -> int:
    """Return the epoch's pool ``base_emission x scale / 1e6``, rounded down."""
    return mul_div(pool.base_emission_per_epoch_base_units, scale_ppm, PPM, Rounding.DOWN)
