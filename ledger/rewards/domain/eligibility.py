"""Step 2 of an epoch: which nodes earn nothing, and why (SPEC 4.2).

Jailed, tombstoned, under-staked nodes and nodes that sent fewer than ``min_heartbeats_ppm`` of
their expected heartbeats get weight 0; each reason is a stable code, reported in a fixed order.
"""

from __future__ import annotations

import enum
from typing import Final

from ledger.params.domain import ParameterSet
from ledger.rewards.domain.inputs import NodeRewardInput

__all__ = [
    "INELIGIBILITY_REASONS",
    "NON_PERFORMANCE_REASONS",
    "REASON_INSUFFICIENT_HEARTBEATS",
    "REASON_JAILED",
    "REASON_TOMBSTONED",
    "REASON_UNDER_STAKED",
    "IneligibilityReason",
    "eligibility_reasons",
    "node_reasons",
]


class IneligibilityReason(enum.StrEnum):
    """Why a node earns nothing this epoch; the values are stable codes in receipts."""

    # Declaration order is report order (INELIGIBILITY_REASONS).
    JAILED = "jailed"
    TOMBSTONED = "tombstoned"
    UNDER_STAKED = "under_staked"
    INSUFFICIENT_HEARTBEATS = "insufficient_heartbeats"


REASON_JAILED: Final = IneligibilityReason.JAILED
REASON_TOMBSTONED: Final = IneligibilityReason.TOMBSTONED
REASON_UNDER_STAKED: Final = IneligibilityReason.UNDER_STAKED
REASON_INSUFFICIENT_HEARTBEATS: Final = IneligibilityReason.INSUFFICIENT_HEARTBEATS
# Reasons are always reported in this order, so receipts of equal inputs are equal.
INELIGIBILITY_REASONS: Final[tuple[IneligibilityReason, ...]] = tuple(IneligibilityReason)
# Reasons that perfect performance cannot remove; the ideal of such a node is 0.
NON_PERFORMANCE_REASONS: Final[frozenset[IneligibilityReason]] = frozenset(
    {REASON_JAILED, REASON_TOMBSTONED, REASON_UNDER_STAKED}
)


def eligibility_reasons(
    node: NodeRewardInput, params: ParameterSet
) -> tuple[IneligibilityReason, ...]:
    """Return why ``node`` earns nothing this epoch, in :data:`INELIGIBILITY_REASONS` order.

    Empty means eligible. Heartbeats count against the expected ones outside declared
    maintenance (``NodeEpochRollup.received_ppm``).
    """
    return node_reasons(node, node.rollup.received_ppm, params.telemetry.min_heartbeats_ppm)


def node_reasons(
    node: NodeRewardInput, received_ppm: int, min_heartbeats_ppm: int
) -> tuple[IneligibilityReason, ...]:
    """:func:`eligibility_reasons` with the figures already looked up (the epoch's hot loop)."""
    insufficient = received_ppm < min_heartbeats_ppm
    if not (node.jailed or node.tombstoned or node.under_staked or insufficient):
        return ()  # the common case, without building a list
    reasons: list[IneligibilityReason] = []
    if node.jailed:
        reasons.append(REASON_JAILED)
    if node.tombstoned:
        reasons.append(REASON_TOMBSTONED)
    if node.under_staked:
        reasons.append(REASON_UNDER_STAKED)
    if insufficient:
        reasons.append(REASON_INSUFFICIENT_HEARTBEATS)
    return tuple(reasons)
