"""Under stake: a protocol violation with no slash; the node earns during a grace, then not
until it is compliant again."""

from __future__ import annotations

from ledger.params.domain import ParameterSet
from ledger.slashing.domain.errors import require_int


def under_stake_grace_ends_at_s(first_seen_under_stake_at_s: int, params: ParameterSet) -> int:
    """When the under-stake grace ends: first seen under stake + ``under_stake_grace_s`` (24 h)."""
    require_int("first_seen_under_stake_at_s", first_seen_under_stake_at_s)
    return first_seen_under_stake_at_s + params.slashing.under_stake_grace_s


def under_stake_rewards_eligible(
    first_seen_under_stake_at_s: int | None, now_s: int, params: ParameterSet
) -> bool:
    """Whether an under-staked node still earns at ``now_s``: during the grace only.

    The grace is the half-open interval ``[first_seen, first_seen + 24 h)``: at exactly 24 h the
    node earns nothing until it is compliant again. ``None`` (not under stake) is eligible.
    """
    require_int("now_s", now_s)
    if first_seen_under_stake_at_s is None:
        return True
    return now_s < under_stake_grace_ends_at_s(first_seen_under_stake_at_s, params)
