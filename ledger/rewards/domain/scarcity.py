"""Demand and supply per resource class, measured from the epoch's own telemetry (SPEC 4.4).
Pure.

For each resource class the service can measure, ``demand / supply`` is the capacity-weighted
mean utilization reported by the class's nodes this epoch::

    supply = sum(capacity_i)                 over the class's nodes that sent heartbeats
    demand = sum(capacity_i x utilization_i)  utilization_i = the node's mean gpu_util_ppm
    demand / supply (ppm) = floor(demand / supply)

``capacity_i`` is the node's on-duty capacity units (declared maintenance excluded). A class with
no reporting capacity has no figure and is neutral (the scarcity pivot). ``storage`` is not
measured in v1: heartbeats carry no storage-usage field, so storage nodes are neutral rather
than priced on a proxy. The ratio is at most 1.0 (utilization cannot exceed capacity), so the
multiplier ranges over ``[1 + 0.5 x (0 - 0.7), 1 + 0.5 x (1 - 0.7)] = [0.65 -> 0.8 floor, 1.15]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ledger.kit.money import PPM
from ledger.params.domain import ParameterSet
from ledger.rewards.domain.inputs import NodeRewardInput
from ledger.rewards.domain.multipliers import ResourceClass, resource_class

#: Classes measured from telemetry (storage has no usage signal yet: neutral).
MEASURED_CLASSES: tuple[ResourceClass, ...] = (ResourceClass.GPU, ResourceClass.BANDWIDTH)


def measured_demand_supply(
    nodes: Sequence[NodeRewardInput], params: ParameterSet
) -> dict[str, int]:
    """Per measured resource class with reporting capacity: demand / supply in ppm (down)."""
    demand: dict[ResourceClass, int] = {}
    supply: dict[ResourceClass, int] = {}
    for node in nodes:
        r = node.rollup
        cls = resource_class(params.provider_type(node.provider_type))
        if cls not in MEASURED_CLASSES or r.heartbeats_accepted == 0:
            continue
        # Mean utilization of the node, rounded down (at most 1e6: every report is).
        utilization = r.gpu_util_ppm_sum // r.heartbeats_accepted
        assert 0 <= utilization <= PPM
        supply[cls] = supply.get(cls, 0) + node.capacity_units_ppm
        demand[cls] = demand.get(cls, 0) + node.capacity_units_ppm * utilization
    out = {}
    for cls in sorted(supply):
        if supply[cls] > 0:
            out[cls.value] = demand[cls] // supply[cls]  # rounded down
            assert 0 <= out[cls.value] <= PPM
    return out


class MeasuredConditions(NamedTuple):
    """The network conditions of an epoch that its nodes' rollups give (prices come from the
    feed): mean GPU utilization over every accepted heartbeat (down), the nodes that sent at
    least one heartbeat, and demand / supply per measured class."""

    utilization_ppm: int
    active_nodes: int
    resource_demand_supply_ppm: dict[str, int]


def measured_conditions(
    nodes: Sequence[NodeRewardInput], params: ParameterSet
) -> MeasuredConditions:
    """What the close measures from the rollups, and what a bundle's verifier re-measures."""
    util_sum = util_n = active = 0
    for node in nodes:
        r = node.rollup
        if r.heartbeats_received:
            active += 1
            util_sum += r.gpu_util_ppm_sum
            # The sum runs over every accepted heartbeat, so it is their count that divides.
            util_n += r.heartbeats_accepted
    return MeasuredConditions(
        util_sum // util_n if util_n else 0, active, measured_demand_supply(nodes, params)
    )
