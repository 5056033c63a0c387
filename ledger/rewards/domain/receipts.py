"""Steps 6 and 7 of an epoch: one receipt per node, and the epoch's result (SPEC 4.5).

A receipt carries every input, score and multiplier that produced the node's amount, and the
ideal: what the node would have earned with perfect performance and good standing, everyone
else unchanged. Amounts and weights exceed 2**53, so their JSON form is a decimal string.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final, NamedTuple

from ledger.rewards.domain.pool import PoolScale

__all__ = ["CALCULATOR_VERSION", "EpochRewards", "RewardReceipt"]

CALCULATOR_VERSION: Final[str] = "rewards-v1"


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


def _receipt_node_id(receipt: RewardReceipt) -> str:
    return receipt.node_id
