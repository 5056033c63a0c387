"""The parameter set's schema: one frozen dataclass per area, each validating itself.

Nothing in the domain reads a number from a module constant: rewards, slashing, staking and
governance take a :class:`ParameterSet` as an argument. A set is a tree of frozen dataclasses of
``int``, ``str``, ``bool`` and tuples only, so it is hashable and cannot be changed after
creation; :mod:`ledger.params.domain.codec` gives it one canonical JSON form whose SHA-256 is the
set's identity. Governance creates a new version instead of editing one.

Units are in the names: ``*_base_units`` is an amount of SWARM base units (18 decimals),
``*_ppm`` a ratio, weight or multiplier in parts per million (1.05 is ``1_050_000``), ``*_s`` a
duration in seconds and ``*_ms`` a latency in milliseconds. Every field is checked against its
annotation and unit suffix (:mod:`ledger.params.domain.checks`), then against the rules of its
area; an error names the field by its dotted path, e.g. ``slashing.split_burn_ppm``.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from ledger.kit.errors import InvalidInput
from ledger.kit.money import PPM
from ledger.params.domain import codec
from ledger.params.domain.checks import (
    ParameterError,
    check_name,
    check_range,
    check_unique,
    validate_fields,
)

__all__ = [
    "CATEGORY_DATACENTER",
    "CATEGORY_EDGE",
    "CATEGORY_INDIVIDUAL",
    "PROVIDER_CATEGORIES",
    "CapacityParams",
    "CommitmentTier",
    "EpochParams",
    "GovernanceParams",
    "HardwareFloor",
    "LadderStep",
    "MultiplierParams",
    "ParameterError",
    "ParameterSet",
    "PerformanceParams",
    "PoolParams",
    "ProviderCategory",
    "ProviderParams",
    "ProviderTypeParams",
    "SlashingParams",
    "StakingParams",
    "TelemetryParams",
    "UnknownProviderTypeError",
]


class ProviderCategory(enum.StrEnum):
    """The three provider categories of SPEC 2 (each type belongs to one)."""

    INDIVIDUAL = "individual"
    DATACENTER = "datacenter"
    EDGE = "edge"


CATEGORY_INDIVIDUAL: Final = ProviderCategory.INDIVIDUAL
CATEGORY_DATACENTER: Final = ProviderCategory.DATACENTER
CATEGORY_EDGE: Final = ProviderCategory.EDGE
PROVIDER_CATEGORIES: Final[tuple[str, ...]] = tuple(ProviderCategory)


class UnknownProviderTypeError(InvalidInput, KeyError, ValueError):
    """Lookup of a provider type that the parameter set does not define.

    It is also a ``KeyError`` (a failed lookup) and a ``ValueError`` (bad input from a caller),
    so either ``except`` clause catches it. ``details`` lists the known types.
    """

    default_code = "unknown_provider_type"

    @property
    def name(self) -> str:
        """The provider type asked for."""
        return str(self.details["name"])

    def __str__(self) -> str:
        # KeyError.__str__ would print only repr(message).
        return self.message


# Areas of the parameter set. Each class validates itself in __post_init__ with the dotted path
# it has inside ParameterSet, so an error names e.g. "slashing.split_burn_ppm".


@dataclass(frozen=True, slots=True)
class EpochParams:
    """Reward epoch timing (SPEC 1, 3).

    ``epoch_settle_grace_s`` is how long after an epoch ends its rollup waits before closing; it
    must cover the telemetry clock skew so every heartbeat that could still be accepted is in.
    ``reward_maturity_s`` is how long after its epoch ends a reward becomes claimable (enters
    the merkle leaf): at least the appeal window plus the detection lag, so rewards-first
    slashing always takes from rewards no root has promised yet (SPEC 4.7).
    """

    _PATH: ClassVar[str] = "epoch"

    epoch_length_s: int
    epoch_settle_grace_s: int
    reward_maturity_s: int

    def __post_init__(self) -> None:
        validate_fields(self, self._PATH)
        check_range(f"{self._PATH}.epoch_length_s", self.epoch_length_s, 1)
        check_range(f"{self._PATH}.reward_maturity_s", self.reward_maturity_s, 0)


@dataclass(frozen=True, slots=True)
class TelemetryParams:
    """Heartbeat ingestion limits and the eligibility floor (SPEC 3, 4.2).

    ``seq_reorder_window`` is how far below a node's highest accepted ``seq`` a late heartbeat
    may still be accepted (order independence); anything further back is rejected.
    ``min_heartbeats_ppm`` is the share of expected heartbeats a node needs to earn anything.
    """

    _PATH: ClassVar[str] = "telemetry"

    heartbeat_interval_s: int
    telemetry_batch_max: int
    clock_skew_s: int
    seq_reorder_window: int
    min_heartbeats_ppm: int
    user_rating_min: int
    user_rating_max: int

    def __post_init__(self) -> None:
        p = self._PATH
        validate_fields(self, p)
        check_range(f"{p}.heartbeat_interval_s", self.heartbeat_interval_s, 1)
        check_range(f"{p}.telemetry_batch_max", self.telemetry_batch_max, 1)
        check_range(f"{p}.seq_reorder_window", self.seq_reorder_window, 0)
        check_range(f"{p}.min_heartbeats_ppm", self.min_heartbeats_ppm, 0, PPM)
        check_range(f"{p}.user_rating_min", self.user_rating_min, 0)
        check_range(f"{p}.user_rating_max", self.user_rating_max, self.user_rating_min + 1)


@dataclass(frozen=True, slots=True)
class ProviderTypeParams:
    """One row of the SPEC 2 provider type table."""

    name: str
    category: str
    min_stake_base_units: int
    type_multiplier_ppm: int
    latency_target_ms: int
    unbonding_period_s: int

    def _path(self) -> str:
        return f"providers.types[{self.name}]"

    def __post_init__(self) -> None:
        p = self._path()
        validate_fields(self, p)
        check_name(f"{p}.name", self.name)
        if self.category not in PROVIDER_CATEGORIES:
            raise ParameterError(
                f"must be one of {', '.join(PROVIDER_CATEGORIES)}", field=f"{p}.category"
            )
        check_range(f"{p}.type_multiplier_ppm", self.type_multiplier_ppm, 1)
        check_range(f"{p}.latency_target_ms", self.latency_target_ms, 1)


@dataclass(frozen=True, slots=True)
class HardwareFloor:
    """Documented minimum hardware for a provider category (SPEC 2)."""

    category: str
    min_gpus: int
    min_ram_gb: int

    def __post_init__(self) -> None:
        p = f"providers.hardware_floors[{self.category}]"
        validate_fields(self, p)
        if self.category not in PROVIDER_CATEGORIES:
            raise ParameterError(
                f"must be one of {', '.join(PROVIDER_CATEGORIES)}", field=f"{p}.category"
            )
        check_range(f"{p}.min_gpus", self.min_gpus, 0)
        check_range(f"{p}.min_ram_gb", self.min_ram_gb, 0)


@dataclass(frozen=True, slots=True)
class ProviderParams:
    """The provider type table and hardware floors (SPEC 2)."""

    _PATH: ClassVar[str] = "providers"

    types: tuple[ProviderTypeParams, ...]
    hardware_floors: tuple[HardwareFloor, ...]

    def __post_init__(self) -> None:
        p = self._PATH
        validate_fields(self, p)
        if not self.types:
            raise ParameterError("must define at least one provider type", field=f"{p}.types")
        check_unique(f"{p}.types", [t.name for t in self.types])
        check_unique(f"{p}.hardware_floors", [f.category for f in self.hardware_floors])
        floors = {f.category for f in self.hardware_floors}
        for t in self.types:
            if t.category not in floors:
                raise ParameterError(
                    f"no floor for category {t.category!r} of {t.name!r}",
                    field=f"{p}.hardware_floors",
                )

    @property
    def type_names(self) -> tuple[str, ...]:
        """Names of the defined provider types, in table order."""
        return tuple(t.name for t in self.types)

    def type(self, name: str) -> ProviderTypeParams:
        """Return the row of provider type ``name``; :class:`UnknownProviderTypeError` if none."""
        for t in self.types:
            if t.name == name:
                return t
        raise UnknownProviderTypeError(
            f"unknown provider type {name!r}; known types: {', '.join(self.type_names)}",
            field="provider_type",
            details={"name": name, "known": list(self.type_names)},
        )

    def hardware_floor(self, category: str) -> HardwareFloor:
        """Return the hardware floor of ``category``; ``KeyError`` naming it if undefined."""
        for f in self.hardware_floors:
            if f.category == category:
                return f
        raise KeyError(f"no hardware floor for provider category {category!r}")


@dataclass(frozen=True, slots=True)
class CapacityParams:
    """Capacity unit weights, all in ppm of one capacity unit (SPEC 2).

    ``capacity_units = gpus x gpu_class_weight + storage_tb x storage + bandwidth_gbps x bw``.
    GPU classes not listed fall back to the ``other`` weight.
    """

    _PATH: ClassVar[str] = "capacity"
    OTHER_GPU_CLASS: ClassVar[str] = "other"

    gpu_class_weights_ppm: tuple[tuple[str, int], ...]
    storage_ppm_per_tb: int
    bandwidth_ppm_per_gbps: int

    def __post_init__(self) -> None:
        p = f"{self._PATH}.gpu_class_weights_ppm"
        validate_fields(self, self._PATH)
        for name, _weight in self.gpu_class_weights_ppm:
            check_name(p, name)
        check_unique(p, [name for name, _ in self.gpu_class_weights_ppm])
        if self.OTHER_GPU_CLASS not in dict(self.gpu_class_weights_ppm):
            raise ParameterError(
                f"must define the fallback class {self.OTHER_GPU_CLASS!r}", field=p
            )

    def gpu_class_weight_ppm(self, gpu_class: str) -> int:
        """Weight of ``gpu_class`` (case-insensitive), or of ``other`` when it is not listed."""
        weights = dict(self.gpu_class_weights_ppm)
        return weights.get(gpu_class.lower(), weights[self.OTHER_GPU_CLASS])


@dataclass(frozen=True, slots=True)
class StakingParams:
    """Stake requirements and participant locks (SPEC 2, 5).

    Required provider stake = max(type minimum, per GPU x gpus + per TB x storage_tb).
    Provider unbonding periods live on each provider type.
    """

    _PATH: ClassVar[str] = "staking"

    stake_per_gpu_base_units: int
    stake_per_storage_tb_base_units: int
    platform_user_min_lock_s: int
    network_operator_min_lock_s: int

    def __post_init__(self) -> None:
        validate_fields(self, self._PATH)


@dataclass(frozen=True, slots=True)
class PoolParams:
    """Epoch emission and dynamic reward scaling (SPEC 4.1).

    ``scale = clamp(demand x growth x market, scale_min, scale_max)``, and it moves at most
    ``scale_max_step_ppm`` (relative) from the previous epoch's scale, starting from
    ``scale_initial_ppm``. Demand factor is ``intercept + slope x utilization``; the growth factor
    rises linearly with the shortfall below ``growth_target_nodes`` up to ``growth_factor_max``;
    the market factor is clamped and is ``market_factor_no_feed_ppm`` without a price feed.
    """

    _PATH: ClassVar[str] = "pool"

    base_emission_per_epoch_base_units: int
    scale_initial_ppm: int
    scale_min_ppm: int
    scale_max_ppm: int
    scale_max_step_ppm: int
    demand_factor_intercept_ppm: int
    demand_factor_slope_ppm: int
    growth_factor_max_ppm: int
    growth_target_nodes: int
    market_factor_min_ppm: int
    market_factor_max_ppm: int
    market_factor_no_feed_ppm: int
    #: A price observed longer ago than this before the epoch's end is stale: no feed.
    price_max_age_s: int

    def __post_init__(self) -> None:
        p = self._PATH
        validate_fields(self, p)
        check_range(f"{p}.scale_min_ppm", self.scale_min_ppm, 1)
        check_range(f"{p}.price_max_age_s", self.price_max_age_s, 1)
        check_range(f"{p}.scale_max_ppm", self.scale_max_ppm, self.scale_min_ppm)
        check_range(
            f"{p}.scale_initial_ppm", self.scale_initial_ppm, self.scale_min_ppm, self.scale_max_ppm
        )
        check_range(f"{p}.scale_max_step_ppm", self.scale_max_step_ppm, 0, PPM)
        check_range(f"{p}.growth_factor_max_ppm", self.growth_factor_max_ppm, PPM)
        check_range(f"{p}.growth_target_nodes", self.growth_target_nodes, 0)
        check_range(f"{p}.market_factor_min_ppm", self.market_factor_min_ppm, 1)
        check_range(
            f"{p}.market_factor_max_ppm", self.market_factor_max_ppm, self.market_factor_min_ppm
        )
        check_range(
            f"{p}.market_factor_no_feed_ppm",
            self.market_factor_no_feed_ppm,
            self.market_factor_min_ppm,
            self.market_factor_max_ppm,
        )


@dataclass(frozen=True, slots=True)
class PerformanceParams:
    """The reward distribution matrix (SPEC 4.3).

    Scores are ppm in ``0 .. 1_000_000``. Uptime scores 0 below ``uptime_floor_ppm`` and rises
    linearly to 1 at ``uptime_target_ppm``; error rate scores ``max(0, 1 - err / zero_score)``;
    response time ``min(1, target / p50)``; a node without ratings scores
    ``unrated_rating_score_ppm``. ``maintenance_budget_s`` of announced maintenance per
    ``maintenance_window_s`` does not count as downtime.
    """

    _PATH: ClassVar[str] = "performance"

    weight_uptime_ppm: int
    weight_error_rate_ppm: int
    weight_response_time_ppm: int
    weight_user_rating_ppm: int
    uptime_floor_ppm: int
    uptime_target_ppm: int
    error_rate_zero_score_ppm: int
    no_jobs_error_score_ppm: int
    unrated_rating_score_ppm: int
    maintenance_budget_s: int
    maintenance_window_s: int

    def __post_init__(self) -> None:
        p = self._PATH
        validate_fields(self, p)
        for name in (
            "weight_uptime_ppm",
            "weight_error_rate_ppm",
            "weight_response_time_ppm",
            "weight_user_rating_ppm",
            "uptime_floor_ppm",
            "uptime_target_ppm",
            "no_jobs_error_score_ppm",
            "unrated_rating_score_ppm",
        ):
            check_range(f"{p}.{name}", getattr(self, name), 0, PPM)
        total = (
            self.weight_uptime_ppm
            + self.weight_error_rate_ppm
            + self.weight_response_time_ppm
            + self.weight_user_rating_ppm
        )
        if total != PPM:
            raise ParameterError(
                f"metric weights sum to {total}, not {PPM}", field=f"{p}.weight_uptime_ppm"
            )
        # A floor equal to the target would make the linear ramp divide by zero.
        check_range(
            f"{p}.uptime_target_ppm", self.uptime_target_ppm, self.uptime_floor_ppm + 1, PPM
        )
        check_range(f"{p}.error_rate_zero_score_ppm", self.error_rate_zero_score_ppm, 1, PPM)
        check_range(f"{p}.maintenance_window_s", self.maintenance_window_s, 1)
        check_range(
            f"{p}.maintenance_budget_s", self.maintenance_budget_s, 0, self.maintenance_window_s
        )


@dataclass(frozen=True, slots=True)
class CommitmentTier:
    """A lock tier of the long-term incentive: locking ``lock_s`` earns ``multiplier_ppm``."""

    name: str
    lock_s: int
    multiplier_ppm: int

    def __post_init__(self) -> None:
        p = f"multipliers.commitment_tiers[{self.name}]"
        validate_fields(self, p)
        check_name(f"{p}.name", self.name)
        check_range(f"{p}.multiplier_ppm", self.multiplier_ppm, 1)


@dataclass(frozen=True, slots=True)
class MultiplierParams:
    """Commitment, scarcity, region and standing multipliers (SPEC 4.4).

    Scarcity per resource class is
    ``clamp(base + slope x (demand/supply - pivot), scarcity_min, scarcity_max)``.
    ``underserved_regions`` is kept sorted and de-duplicated, so two sets with the same regions in
    another order are equal and hash the same. Standing after a jail climbs through
    ``standing_restoration_steps_ppm``, one step per clean epoch.
    """

    _PATH: ClassVar[str] = "multipliers"

    commitment_tiers: tuple[CommitmentTier, ...]
    scarcity_resource_classes: tuple[str, ...]
    scarcity_base_ppm: int
    scarcity_slope_ppm: int
    scarcity_pivot_ppm: int
    scarcity_min_ppm: int
    scarcity_max_ppm: int
    region_default_multiplier_ppm: int
    region_underserved_multiplier_ppm: int
    underserved_regions: tuple[str, ...]
    standing_good_ppm: int
    standing_restoration_steps_ppm: tuple[int, ...]

    def __post_init__(self) -> None:
        p = self._PATH
        validate_fields(self, p)
        tiers = self.commitment_tiers
        if not tiers or tiers[0].lock_s != 0:
            raise ParameterError(
                "must start with a flexible 0 s tier", field=f"{p}.commitment_tiers"
            )
        check_unique(f"{p}.commitment_tiers", [t.name for t in tiers])
        for prev, cur in itertools.pairwise(tiers):
            if cur.lock_s <= prev.lock_s or cur.multiplier_ppm < prev.multiplier_ppm:
                raise ParameterError(
                    "must be ordered by strictly longer lock and non-decreasing multiplier",
                    field=f"{p}.commitment_tiers",
                )
        for name in self.scarcity_resource_classes:
            check_name(f"{p}.scarcity_resource_classes", name)
        check_unique(f"{p}.scarcity_resource_classes", list(self.scarcity_resource_classes))
        check_range(f"{p}.scarcity_min_ppm", self.scarcity_min_ppm, 1)
        check_range(f"{p}.scarcity_max_ppm", self.scarcity_max_ppm, self.scarcity_min_ppm)
        check_range(f"{p}.region_default_multiplier_ppm", self.region_default_multiplier_ppm, 1)
        check_range(
            f"{p}.region_underserved_multiplier_ppm", self.region_underserved_multiplier_ppm, 1
        )
        for region in self.underserved_regions:
            check_name(f"{p}.underserved_regions", region)
        # Normalise instead of refusing: the list is a set, and its order must not change the hash.
        object.__setattr__(
            self, "underserved_regions", tuple(sorted(set(self.underserved_regions)))
        )
        check_range(f"{p}.standing_good_ppm", self.standing_good_ppm, 1, PPM)
        steps = self.standing_restoration_steps_ppm
        path_steps = f"{p}.standing_restoration_steps_ppm"
        if not steps or steps[-1] != self.standing_good_ppm:
            raise ParameterError("must be non-empty and end at standing_good_ppm", field=path_steps)
        if steps[0] <= 0 or any(b <= a for a, b in itertools.pairwise(steps)):
            raise ParameterError("must be positive and strictly increasing", field=path_steps)

    def commitment_tier(self, name: str) -> CommitmentTier:
        """Return the commitment tier called ``name``; ``KeyError`` naming it if undefined."""
        for t in self.commitment_tiers:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.commitment_tiers)
        raise KeyError(f"unknown commitment tier {name!r}; known tiers: {known}")

    def commitment_tier_for_lock(self, lock_s: int) -> CommitmentTier:
        """Return the best tier a lock of ``lock_s`` seconds qualifies for (flexible if none)."""
        best = self.commitment_tiers[0]
        for t in self.commitment_tiers:
            if t.lock_s <= lock_s:
                best = t
        return best


@dataclass(frozen=True, slots=True)
class LadderStep:
    """One rung of the graduated poor-performance ladder (SPEC 6).

    The last rung applies to its offence number and every later one. ``reward_multiplier_ppm``
    scales that epoch's reward; a jail makes the node ineligible for as long as it lasts.
    """

    offence_number: int
    label: str
    reward_multiplier_ppm: int
    stake_slash_ppm: int
    jail_s: int
    governor_review_required: bool

    def __post_init__(self) -> None:
        p = f"slashing.ladder[{self.offence_number}]"
        validate_fields(self, p)
        check_name(f"{p}.label", self.label)
        check_range(f"{p}.reward_multiplier_ppm", self.reward_multiplier_ppm, 0, PPM)
        check_range(f"{p}.stake_slash_ppm", self.stake_slash_ppm, 0, PPM)


@dataclass(frozen=True, slots=True)
class SlashingParams:
    """The slashing matrix, ladder, appeal and distribution of slashed funds (SPEC 6).

    Poor performance: uptime below ``downtime_uptime_threshold_ppm``, error rate above
    ``error_rate_threshold_ppm`` or p50 latency above ``latency_threshold_multiple_ppm`` times the
    type's target counts as an offence on the ladder, over ``offence_window_s``.
    """

    _PATH: ClassVar[str] = "slashing"

    downtime_uptime_threshold_ppm: int
    error_rate_threshold_ppm: int
    latency_threshold_multiple_ppm: int
    offence_window_s: int
    ladder: tuple[LadderStep, ...]
    security_minor_slash_ppm: int
    security_major_slash_ppm: int
    security_critical_slash_ppm: int
    security_critical_tombstone: bool
    malicious_slash_ppm: int
    malicious_tombstone_on_repeat: bool
    under_stake_grace_s: int
    sybil_slash_per_duplicate_ppm: int
    sybil_slash_max_ppm: int
    hoarding_slash_per_severity_unit_ppm: int
    hoarding_slash_max_ppm: int
    appeal_window_s: int
    correlated_outage_threshold_ppm: int
    split_insurance_ppm: int
    split_treasury_ppm: int
    split_burn_ppm: int

    def __post_init__(self) -> None:
        p = self._PATH
        validate_fields(self, p)
        for name in (
            "downtime_uptime_threshold_ppm",
            "error_rate_threshold_ppm",
            "security_minor_slash_ppm",
            "security_major_slash_ppm",
            "security_critical_slash_ppm",
            "malicious_slash_ppm",
            "sybil_slash_per_duplicate_ppm",
            "sybil_slash_max_ppm",
            "hoarding_slash_per_severity_unit_ppm",
            "hoarding_slash_max_ppm",
            "correlated_outage_threshold_ppm",
            "split_insurance_ppm",
            "split_treasury_ppm",
            "split_burn_ppm",
        ):
            check_range(f"{p}.{name}", getattr(self, name), 0, PPM)
        check_range(f"{p}.latency_threshold_multiple_ppm", self.latency_threshold_multiple_ppm, PPM)
        check_range(f"{p}.offence_window_s", self.offence_window_s, 1)
        if not self.ladder or [s.offence_number for s in self.ladder] != list(
            range(1, len(self.ladder) + 1)
        ):
            raise ParameterError(
                "offence numbers must be 1, 2, 3, ... in order", field=f"{p}.ladder"
            )
        if not (
            self.security_minor_slash_ppm
            <= self.security_major_slash_ppm
            <= self.security_critical_slash_ppm
        ):
            raise ParameterError(
                "severities must be ordered minor <= major <= critical",
                field=f"{p}.security_major_slash_ppm",
            )
        check_range(
            f"{p}.hoarding_slash_max_ppm",
            self.hoarding_slash_max_ppm,
            self.hoarding_slash_per_severity_unit_ppm,
            PPM,
        )
        split = self.split_insurance_ppm + self.split_treasury_ppm + self.split_burn_ppm
        if split != PPM:
            raise ParameterError(
                f"split sums to {split}, not {PPM}", field=f"{p}.split_insurance_ppm"
            )

    def ladder_step(self, offence_number: int) -> LadderStep:
        """Return the rung for the ``offence_number``-th offence in the window (1-based)."""
        if offence_number < 1:
            raise ValueError(f"offence_number must be >= 1, got {offence_number}")
        return self.ladder[min(offence_number, len(self.ladder)) - 1]


@dataclass(frozen=True, slots=True)
class GovernanceParams:
    """Proposal quorum, timelock and impact preview depth (SPEC 9)."""

    _PATH: ClassVar[str] = "governance"

    governor_count: int
    quorum: int
    timelock_s: int
    impact_preview_epochs: int

    def __post_init__(self) -> None:
        p = self._PATH
        validate_fields(self, p)
        check_range(f"{p}.governor_count", self.governor_count, 1)
        check_range(f"{p}.quorum", self.quorum, 1, self.governor_count)
        check_range(f"{p}.impact_preview_epochs", self.impact_preview_epochs, 0)


@dataclass(frozen=True, slots=True)
class ParameterSet:
    """A complete, immutable, versioned parameter set.

    Identity is :meth:`content_hash`, the SHA-256 of :meth:`canonical_json`. Build a changed
    version with ``dataclasses.replace`` (it re-validates) and a new ``version``.
    """

    version: int
    epoch: EpochParams
    telemetry: TelemetryParams
    providers: ProviderParams
    capacity: CapacityParams
    staking: StakingParams
    pool: PoolParams
    performance: PerformanceParams
    multipliers: MultiplierParams
    slashing: SlashingParams
    governance: GovernanceParams

    def __post_init__(self) -> None:
        validate_fields(self, "")
        check_range("version", self.version, 1)
        # Every heartbeat the ingest may still accept (+-clock skew) must land before the close.
        if self.epoch.epoch_settle_grace_s < self.telemetry.clock_skew_s:
            raise ParameterError(
                f"must be >= telemetry.clock_skew_s ({self.telemetry.clock_skew_s})",
                field="epoch.epoch_settle_grace_s",
            )
        # A reward matures only after every penalty that could take it has been decided and its
        # appeal window has run: the detection lag (an epoch is judged after it closes, at its
        # end plus the grace) plus the appeal window.
        floor = (
            self.slashing.appeal_window_s
            + self.epoch.epoch_length_s
            + self.epoch.epoch_settle_grace_s
        )
        if self.epoch.reward_maturity_s < floor:
            raise ParameterError(
                f"must be >= slashing.appeal_window_s + epoch_length_s + epoch_settle_grace_s "
                f"({floor})",
                field="epoch.reward_maturity_s",
            )

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-shaped form: nested dicts, lists, ints, strs and bools only."""
        plain = codec.to_plain(self)
        assert isinstance(plain, dict)
        return plain

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ParameterSet:
        """Rebuild and validate a set from :meth:`to_dict` output; unknown or missing fields,
        floats and bools-as-ints are refused with a :class:`ParameterError` naming the path."""
        return codec.dataclass_from_plain(cls, data, "")

    def canonical_json(self) -> str:
        """Return the canonical JSON: sorted keys, no whitespace, ASCII, integers only."""
        return codec.canonical_json(self)

    @classmethod
    def from_json(cls, text: str) -> ParameterSet:
        """Parse JSON (canonical or not) into a validated set; any float is refused."""
        return cls.from_dict(codec.parse_json_object(text))

    def content_hash(self) -> str:
        """Return the lowercase hex SHA-256 of :meth:`canonical_json`."""
        return codec.content_hash(self)

    def provider_type(self, name: str) -> ProviderTypeParams:
        """Return provider type ``name``; :class:`UnknownProviderTypeError` if undefined."""
        return self.providers.type(name)
