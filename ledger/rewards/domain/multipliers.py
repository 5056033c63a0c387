"""Step 4 of an epoch: the multipliers of a node's weight (SPEC 4.4).

A node's weight is ``capacity x type x performance x commitment x scarcity x region x standing``,
all ppm, multiplied as exact integers and never divided, so no rounding happens before the
allocation. Commitment, region and standing are looked up from the parameter set and the node;
this module holds the two that take a rule: the resource class a provider type contributes, and
the scarcity multiplier of a class.
"""

from __future__ import annotations

import enum
from typing import Final

from ledger.kit.money import PPM
from ledger.params.domain import CATEGORY_EDGE, MultiplierParams, ProviderTypeParams
from ledger.rewards.domain.inputs import clamp

__all__ = [
    "RESOURCE_BANDWIDTH",
    "RESOURCE_GPU",
    "RESOURCE_STORAGE",
    "ResourceClass",
    "resource_class",
    "scarcity_multiplier_ppm",
]


class ResourceClass(enum.StrEnum):
    """The scarcity resource classes a node contributes to (SPEC 4.4)."""

    GPU = "gpu"
    STORAGE = "storage"
    BANDWIDTH = "bandwidth"


RESOURCE_GPU: Final = ResourceClass.GPU
RESOURCE_STORAGE: Final = ResourceClass.STORAGE
RESOURCE_BANDWIDTH: Final = ResourceClass.BANDWIDTH
_STORAGE_PROVIDER_TYPE: Final[str] = "storage_center"


def resource_class(provider: ProviderTypeParams) -> ResourceClass:
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
    return clamp(
        multipliers.scarcity_base_ppm + delta,
        multipliers.scarcity_min_ppm,
        multipliers.scarcity_max_ppm,
    )
