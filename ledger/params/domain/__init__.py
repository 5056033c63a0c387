"""The versioned, immutable parameter set that holds every tunable number of the product.

Nothing in the domain reads a number from a module constant: rewards, slashing, staking and
governance take a :class:`ParameterSet` as an argument. A set is a tree of frozen dataclasses of
``int``, ``str``, ``bool`` and tuples only, so it is hashable, cannot be changed after creation,
and has one canonical JSON form (sorted keys, no whitespace, integers only) whose SHA-256 is the
set's identity. Governance creates a new version instead of editing one, and every reward receipt
records the version and the hash it was computed with.

This package is a facade over its parts: :mod:`.schema` (the dataclasses and their validation,
with the annotation-driven field checks in :mod:`.checks`), :mod:`.codec` (plain data, canonical
JSON, hash), :mod:`.defaults` (version 1 and the demo profile) and :mod:`.epochs` (the epoch
clock, imported from its own module).
"""

from __future__ import annotations

from ledger.params.domain.checks import ParameterError
from ledger.params.domain.defaults import (
    DEFAULT_PARAMS,
    Profile,
    demo_params,
    params_for_profile,
    provider_type,
)
from ledger.params.domain.schema import (
    CATEGORY_DATACENTER,
    CATEGORY_EDGE,
    CATEGORY_INDIVIDUAL,
    PROVIDER_CATEGORIES,
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
    ProviderCategory,
    ProviderParams,
    ProviderTypeParams,
    SlashingParams,
    StakingParams,
    TelemetryParams,
    UnknownProviderTypeError,
)

__all__ = [
    "CATEGORY_DATACENTER",
    "CATEGORY_EDGE",
    "CATEGORY_INDIVIDUAL",
    "DEFAULT_PARAMS",
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
    "Profile",
    "ProviderCategory",
    "ProviderParams",
    "ProviderTypeParams",
    "SlashingParams",
    "StakingParams",
    "TelemetryParams",
    "UnknownProviderTypeError",
    "demo_params",
    "params_for_profile",
    "provider_type",
]
