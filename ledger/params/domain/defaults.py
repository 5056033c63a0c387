"""The defaults: version 1 of the parameter set, the demo profile, and lookups over them.

:data:`DEFAULT_PARAMS` is version 1, the defaults of SPEC.md sections 1-9, built area by area
below; :func:`demo_params` is the demo profile (60 s epochs), a separate set with its own hash.
Changing any number here changes the set's hash, which receipts record and tests pin.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Final

from ledger.kit.money import swarm_to_base_units
from ledger.params.domain.checks import ParameterError
from ledger.params.domain.schema import (
    CATEGORY_DATACENTER,
    CATEGORY_EDGE,
    CATEGORY_INDIVIDUAL,
    CapacityParams,
    CommitmentTier,
    EpochParams,
    GovernanceParams,
    HardwareFloor,
    LadderStep,
    MultiplierParams,
    ParameterSet,
    PerformanceParams,
    PoolParams,
    ProviderParams,
    ProviderTypeParams,
    SlashingParams,
    StakingParams,
    TelemetryParams,
)

__all__ = [
    "DEFAULT_PARAMS",
    "Profile",
    "demo_params",
    "params_for_profile",
    "provider_type",
]

_MINUTE_S: Final[int] = 60
_HOUR_S: Final[int] = 60 * _MINUTE_S
_DAY_S: Final[int] = 24 * _HOUR_S


class Profile(enum.StrEnum):
    """The named deploy profiles (``SWARM_PARAMS``)."""

    DEFAULT = "default"
    DEMO = "demo"


def _swarm(whole: int) -> int:
    return swarm_to_base_units(whole)


def _provider(
    name: str, category: str, min_stake_swarm: int, multiplier_ppm: int, latency_ms: int, days: int
) -> ProviderTypeParams:
    return ProviderTypeParams(
        name=name,
        category=category,
        min_stake_base_units=_swarm(min_stake_swarm),
        type_multiplier_ppm=multiplier_ppm,
        latency_target_ms=latency_ms,
        unbonding_period_s=days * _DAY_S,
    )


_EPOCH: Final[EpochParams] = EpochParams(
    epoch_length_s=_HOUR_S,
    # Equal to the clock skew: the latest heartbeat still accepted for an epoch is in.
    epoch_settle_grace_s=300,
    # 48 h appeal window + the detection lag (one epoch and its grace), rounded up to 50 h.
    reward_maturity_s=50 * _HOUR_S,
)

_TELEMETRY: Final[TelemetryParams] = TelemetryParams(
    heartbeat_interval_s=60,
    telemetry_batch_max=1_000,
    clock_skew_s=300,
    # Generous next to the ~10 heartbeats a +-300 s window holds, so retried batches that
    # arrive out of order are still accepted; duplicates are dropped by (node_id, seq).
    seq_reorder_window=1_000,
    min_heartbeats_ppm=500_000,
    user_rating_min=1,
    user_rating_max=5,
)

_PROVIDERS: Final[ProviderParams] = ProviderParams(
    types=(
        _provider("individual", CATEGORY_INDIVIDUAL, 1_000, 1_000_000, 100, 7),
        _provider("gaming_pc", CATEGORY_INDIVIDUAL, 1_000, 1_000_000, 100, 7),
        _provider("workstation", CATEGORY_INDIVIDUAL, 2_500, 1_050_000, 50, 7),
        _provider("data_center", CATEGORY_DATACENTER, 100_000, 1_150_000, 50, 28),
        _provider("gpu_cluster", CATEGORY_DATACENTER, 100_000, 1_200_000, 50, 28),
        _provider("storage_center", CATEGORY_DATACENTER, 50_000, 1_100_000, 50, 28),
        _provider("edge_provider", CATEGORY_EDGE, 10_000, 1_100_000, 10, 14),
        _provider("edge_location", CATEGORY_EDGE, 5_000, 1_100_000, 10, 14),
        _provider("regional_hub", CATEGORY_EDGE, 50_000, 1_150_000, 20, 14),
    ),
    hardware_floors=(
        HardwareFloor(category=CATEGORY_INDIVIDUAL, min_gpus=1, min_ram_gb=32),
        HardwareFloor(category=CATEGORY_DATACENTER, min_gpus=100, min_ram_gb=1_024),
        HardwareFloor(category=CATEGORY_EDGE, min_gpus=10, min_ram_gb=256),
    ),
)

_CAPACITY: Final[CapacityParams] = CapacityParams(
    gpu_class_weights_ppm=(
        ("h100", 1_000_000),
        ("a100", 700_000),
        ("l40s", 500_000),
        ("rtx4090", 350_000),
        ("a10", 300_000),
        ("t4", 150_000),
        ("other", 100_000),
    ),
    storage_ppm_per_tb=50_000,
    bandwidth_ppm_per_gbps=20_000,
)

_STAKING: Final[StakingParams] = StakingParams(
    stake_per_gpu_base_units=_swarm(500),
    stake_per_storage_tb_base_units=_swarm(100),
    platform_user_min_lock_s=0,
    network_operator_min_lock_s=365 * _DAY_S,
)

_POOL: Final[PoolParams] = PoolParams(
    base_emission_per_epoch_base_units=_swarm(10_000),
    scale_initial_ppm=1_000_000,
    scale_min_ppm=500_000,
    scale_max_ppm=2_000_000,
    scale_max_step_ppm=100_000,
    demand_factor_intercept_ppm=800_000,
    demand_factor_slope_ppm=400_000,
    growth_factor_max_ppm=1_250_000,
    # The spec leaves the target open; 10,000 active nodes is this project's v1 choice.
    growth_target_nodes=10_000,
    market_factor_min_ppm=800_000,
    market_factor_max_ppm=1_250_000,
    market_factor_no_feed_ppm=1_000_000,
    # A market price older than two hours at an epoch's end does not move the pool.
    price_max_age_s=2 * _HOUR_S,
)

_PERFORMANCE: Final[PerformanceParams] = PerformanceParams(
    weight_uptime_ppm=350_000,
    weight_error_rate_ppm=300_000,
    weight_response_time_ppm=200_000,
    weight_user_rating_ppm=150_000,
    uptime_floor_ppm=900_000,
    uptime_target_ppm=999_000,
    error_rate_zero_score_ppm=50_000,
    no_jobs_error_score_ppm=1_000_000,
    unrated_rating_score_ppm=500_000,
    maintenance_budget_s=8 * _HOUR_S,
    maintenance_window_s=30 * _DAY_S,
)

_MULTIPLIERS: Final[MultiplierParams] = MultiplierParams(
    commitment_tiers=(
        CommitmentTier(name="flexible", lock_s=0, multiplier_ppm=1_000_000),
        CommitmentTier(name="30d", lock_s=30 * _DAY_S, multiplier_ppm=1_050_000),
        CommitmentTier(name="90d", lock_s=90 * _DAY_S, multiplier_ppm=1_100_000),
        CommitmentTier(name="180d", lock_s=180 * _DAY_S, multiplier_ppm=1_200_000),
        CommitmentTier(name="365d", lock_s=365 * _DAY_S, multiplier_ppm=1_350_000),
    ),
    scarcity_resource_classes=("gpu", "storage", "bandwidth"),
    scarcity_base_ppm=1_000_000,
    scarcity_slope_ppm=500_000,
    scarcity_pivot_ppm=700_000,
    scarcity_min_ppm=800_000,
    scarcity_max_ppm=1_500_000,
    region_default_multiplier_ppm=1_000_000,
    region_underserved_multiplier_ppm=1_100_000,
    underserved_regions=(),
    standing_good_ppm=1_000_000,
    standing_restoration_steps_ppm=(250_000, 500_000, 750_000, 1_000_000),
)

_SLASHING: Final[SlashingParams] = SlashingParams(
    downtime_uptime_threshold_ppm=900_000,
    error_rate_threshold_ppm=100_000,
    latency_threshold_multiple_ppm=5_000_000,
    offence_window_s=30 * _DAY_S,
    ladder=(
        LadderStep(
            offence_number=1,
            label="warning",
            reward_multiplier_ppm=1_000_000,
            stake_slash_ppm=0,
            jail_s=0,
            governor_review_required=False,
        ),
        LadderStep(
            offence_number=2,
            label="penalty",
            reward_multiplier_ppm=500_000,
            stake_slash_ppm=1_000,
            jail_s=0,
            governor_review_required=False,
        ),
        LadderStep(
            offence_number=3,
            label="penalty",
            reward_multiplier_ppm=1_000_000,
            stake_slash_ppm=10_000,
            jail_s=24 * _HOUR_S,
            governor_review_required=False,
        ),
        LadderStep(
            offence_number=4,
            label="severe",
            reward_multiplier_ppm=1_000_000,
            stake_slash_ppm=50_000,
            jail_s=7 * _DAY_S,
            governor_review_required=True,
        ),
    ),
    security_minor_slash_ppm=50_000,
    security_major_slash_ppm=200_000,
    security_critical_slash_ppm=1_000_000,
    security_critical_tombstone=True,
    malicious_slash_ppm=200_000,
    malicious_tombstone_on_repeat=True,
    under_stake_grace_s=24 * _HOUR_S,
    sybil_slash_per_duplicate_ppm=50_000,
    sybil_slash_max_ppm=1_000_000,
    hoarding_slash_per_severity_unit_ppm=10_000,
    hoarding_slash_max_ppm=100_000,
    appeal_window_s=48 * _HOUR_S,
    correlated_outage_threshold_ppm=200_000,
    split_insurance_ppm=500_000,
    split_treasury_ppm=300_000,
    split_burn_ppm=200_000,
)

_GOVERNANCE: Final[GovernanceParams] = GovernanceParams(
    governor_count=3,
    quorum=2,
    timelock_s=24 * _HOUR_S,
    impact_preview_epochs=24,
)

DEFAULT_PARAMS: Final[ParameterSet] = ParameterSet(
    version=1,
    epoch=_EPOCH,
    telemetry=_TELEMETRY,
    providers=_PROVIDERS,
    capacity=_CAPACITY,
    staking=_STAKING,
    pool=_POOL,
    performance=_PERFORMANCE,
    multipliers=_MULTIPLIERS,
    slashing=_SLASHING,
    governance=_GOVERNANCE,
)


def provider_type(name: str, params: ParameterSet = DEFAULT_PARAMS) -> ProviderTypeParams:
    """Return provider type ``name`` of ``params``; :class:`UnknownProviderTypeError` if none.

    Domain code should pass the epoch's parameter set; the default is for tools and tests.
    """
    return params.provider_type(name)


def demo_params(base: ParameterSet = DEFAULT_PARAMS) -> ParameterSet:
    """The demo profile (SPEC section 1: 60 s epochs): a separate set with its own hash.

    Clock skew and settle grace shrink with the epoch so that a demo epoch closes within a
    minute of its end, and a heartbeat every 6 s gives each epoch 10 slots worth measuring
    (the per-node rate limit scales with the interval). The appeal window (5 min) and the
    reward maturity (7 min, the shortest the rules allow rounded up) shrink so that a demo
    session shows slashes executing and rewards becoming claimable; everything else is the
    default.
    """
    return dataclasses.replace(
        base,
        epoch=dataclasses.replace(
            base.epoch, epoch_length_s=60, epoch_settle_grace_s=30, reward_maturity_s=420
        ),
        telemetry=dataclasses.replace(base.telemetry, clock_skew_s=30, heartbeat_interval_s=6),
        slashing=dataclasses.replace(base.slashing, appeal_window_s=300),
    )


def params_for_profile(profile: str) -> ParameterSet:
    """The parameter set of a named deploy profile ('default' or 'demo')."""
    if profile == Profile.DEFAULT:
        return DEFAULT_PARAMS
    if profile == Profile.DEMO:
        return demo_params()
    raise ParameterError(
        f"unknown profile {profile!r}: use 'default' or 'demo'", field="SWARM_PARAMS"
    )
