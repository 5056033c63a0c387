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

This package is a facade over one module per step: :mod:`.inputs` (the inputs and their checks),
:mod:`.pool` (1), :mod:`.eligibility` (2), :mod:`.scores` (3), :mod:`.multipliers` (4),
:mod:`.allocation` (5), :mod:`.receipts` (6, 7), :mod:`.epoch` (:func:`compute_epoch`, the steps
in order), :mod:`.provenance` (the inputs digest) and :mod:`.merkle` (the claim tree).
"""

from __future__ import annotations

from ledger.kit.limits import MAX_NODES_PER_EPOCH
from ledger.rewards.domain.allocation import allocate_exact
from ledger.rewards.domain.claims import (
    MaturityFacts,
    last_matured_epoch,
    maturing_amount,
    maturing_amounts,
    maturity_lag_epochs,
)
from ledger.rewards.domain.eligibility import (
    INELIGIBILITY_REASONS,
    REASON_INSUFFICIENT_HEARTBEATS,
    REASON_JAILED,
    REASON_TOMBSTONED,
    REASON_UNDER_STAKED,
    IneligibilityReason,
    eligibility_reasons,
)
from ledger.rewards.domain.epoch import compute_epoch
from ledger.rewards.domain.inputs import NetworkConditions, NodeRewardInput, RewardInputError
from ledger.rewards.domain.multipliers import (
    RESOURCE_BANDWIDTH,
    RESOURCE_GPU,
    RESOURCE_STORAGE,
    ResourceClass,
    resource_class,
    scarcity_multiplier_ppm,
)
from ledger.rewards.domain.pool import (
    PoolScale,
    compute_pool_scale,
    demand_factor_ppm,
    growth_factor_ppm,
    market_factor_ppm,
)
from ledger.rewards.domain.provenance import inputs_digest, provenance_digest
from ledger.rewards.domain.receipts import CALCULATOR_VERSION, EpochRewards, RewardReceipt
from ledger.rewards.domain.scarcity import (
    MEASURED_CLASSES,
    MeasuredConditions,
    measured_conditions,
    measured_demand_supply,
)
from ledger.rewards.domain.scores import (
    error_rate_score_ppm,
    performance_ppm,
    rating_percentiles_ppm,
    response_time_score_ppm,
    uptime_score_ppm,
)

__all__ = [
    "CALCULATOR_VERSION",
    "INELIGIBILITY_REASONS",
    "MAX_NODES_PER_EPOCH",
    "MEASURED_CLASSES",
    "REASON_INSUFFICIENT_HEARTBEATS",
    "REASON_JAILED",
    "REASON_TOMBSTONED",
    "REASON_UNDER_STAKED",
    "RESOURCE_BANDWIDTH",
    "RESOURCE_GPU",
    "RESOURCE_STORAGE",
    "EpochRewards",
    "IneligibilityReason",
    "MaturityFacts",
    "MeasuredConditions",
    "NetworkConditions",
    "NodeRewardInput",
    "PoolScale",
    "ResourceClass",
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
    "last_matured_epoch",
    "market_factor_ppm",
    "maturing_amount",
    "maturing_amounts",
    "maturity_lag_epochs",
    "measured_conditions",
    "measured_demand_supply",
    "performance_ppm",
    "provenance_digest",
    "rating_percentiles_ppm",
    "resource_class",
    "response_time_score_ppm",
    "scarcity_multiplier_ppm",
    "uptime_score_ppm",
]
