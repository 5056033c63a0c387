"""The calculator's inputs, one node's and the network's, and the checks they pass on creation.

Every step of the calculation takes these values as they are; anything the calculator cannot
compute exactly with (a float, a bool where an int belongs, a negative count, a rollup of
another node) is refused here with a :class:`RewardInputError` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from ledger.kit.errors import InvalidInput
from ledger.kit.money import PPM
from ledger.telemetry.domain import NodeEpochRollup

__all__ = [
    "NetworkConditions",
    "NodeRewardInput",
    "RewardInputError",
    "clamp",
    "node_id_key",
    "require_bool",
    "require_int",
    "require_str",
]

_ADDRESS_RE: Final[re.Pattern[str]] = re.compile(r"0x[0-9a-f]{40}")


class RewardInputError(InvalidInput, ValueError):
    """Inputs the calculator refuses, with the offending field named and a stable code."""

    default_code = "invalid_reward_input"


def require_int(name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) within ``low .. high``; else refuse it."""
    # bool is an int subclass and float is what the module keeps out; both are refused.
    if isinstance(value, bool) or not isinstance(value, int):
        raise RewardInputError(f"must be an int, not {type(value).__name__}", field=name)
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f"{low} .. {high}" if high is not None else f">= {low}"
        raise RewardInputError(f"must be {bound}, got {value}", field=name)
    return value


def require_str(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty str; else refuse it."""
    if not isinstance(value, str) or not value:
        raise RewardInputError("must be a non-empty str", field=name)
    return value


def require_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool; else refuse it."""
    if not isinstance(value, bool):
        raise RewardInputError(f"must be a bool, not {type(value).__name__}", field=name)
    return value


def clamp(value: int, low: int, high: int) -> int:
    """Bound ``value`` to ``low .. high`` (``low <= high``)."""
    return low if value < low else high if value > high else value


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
        require_str("node_id", self.node_id)
        if not isinstance(self.provider_id, str) or not _ADDRESS_RE.fullmatch(self.provider_id):
            raise RewardInputError(
                f"must be a lower-case 0x address, got {self.provider_id!r}", field="provider_id"
            )
        require_str("provider_type", self.provider_type)
        require_str("region", self.region)
        require_int("capacity_units_ppm", self.capacity_units_ppm, 0)
        require_str("commitment_tier", self.commitment_tier)
        require_int("standing_ppm", self.standing_ppm, 0, PPM)
        require_bool("jailed", self.jailed)
        require_bool("tombstoned", self.tombstoned)
        require_bool("under_staked", self.under_staked)
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
        require_int("utilization_ppm", self.utilization_ppm, 0, PPM)
        require_int("active_nodes", self.active_nodes, 0)
        # A zero or negative price is a broken feed, not a market signal; the caller passes
        # None instead and gets the neutral no-feed factor.
        if self.reference_price is not None:
            require_int("reference_price", self.reference_price, 1)
        if self.current_price is not None:
            require_int("current_price", self.current_price, 1)
        if not isinstance(self.resource_demand_supply_ppm, Mapping):
            raise RewardInputError("must be a mapping", field="resource_demand_supply_ppm")
        copied: dict[str, int] = {}
        for name in sorted(self.resource_demand_supply_ppm):
            require_str("resource_demand_supply_ppm", name)
            copied[name] = require_int(
                f"resource_demand_supply_ppm[{name}]", self.resource_demand_supply_ppm[name], 0
            )
        # A private sorted copy behind a read-only view: the caller's dict may change later.
        object.__setattr__(self, "resource_demand_supply_ppm", MappingProxyType(copied))


def node_id_key(node: NodeRewardInput) -> str:
    """Sort key of the canonical node order (node id ascending) every step follows."""
    return node.node_id
