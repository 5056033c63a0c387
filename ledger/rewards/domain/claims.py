"""Claimable rewards (SPEC 4.7): what the merkle leaf of a provider promises. Pure.

A reward is credited to the provider's ``rewards_accrued`` when its epoch closes and becomes
claimable (moves to ``rewards_claimable``, and so into the leaf) once its epoch has been over for
``reward_maturity_s``: longer than the appeal window plus the detection lag, so every penalty
that can take it is decided before it matures. Rewards-first slashing holds and takes only from
``rewards_accrued``, so no base unit held or slashed ever reaches a leaf, and a leaf never
decreases (claimable only grows; claims are counted on chain as cumulative minus claimed).

At each close the amount that matures for a provider is::

    min(matured_credits - already_claimable, accrued_available)

``matured_credits``: every reward credited to it for an epoch that has matured by now;
``already_claimable``: what matured before; ``accrued_available``: its ``rewards_accrued`` balance
less pending holds. What a slash took from old rewards is exactly what does not mature; a void
that gives it back lets it mature at the next close.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class MaturityFacts(NamedTuple):
    """One provider's ledger facts at a close (all base units)."""

    matured_credits: int  # rewards credited for epochs whose maturity has passed
    already_claimable: int  # credited to rewards_claimable so far
    accrued_available: int  # rewards_accrued balance less pending debits (holds)


def maturity_lag_epochs(epoch_length_s: int, reward_maturity_s: int) -> int:
    """How many epochs after its own a reward matures: ``ceil(maturity / length)``."""
    assert epoch_length_s > 0 and reward_maturity_s >= 0
    return -(-reward_maturity_s // epoch_length_s)  # ceiling division


def last_matured_epoch(epoch: int, epoch_length_s: int, reward_maturity_s: int) -> int:
    """The last epoch whose rewards are claimable when ``epoch`` closes: epoch ``e`` matures
    once ``end(e) + maturity <= end(epoch)``, i.e. ``e <= epoch - ceil(maturity / length)``."""
    return epoch - maturity_lag_epochs(epoch_length_s, reward_maturity_s)


def maturing_amount(facts: MaturityFacts) -> int:
    """What matures now for one provider (never negative, never more than is available)."""
    assert min(facts) >= 0, facts
    due = facts.matured_credits - facts.already_claimable
    amount = max(0, min(due, facts.accrued_available))
    assert 0 <= amount <= facts.accrued_available
    return amount


def maturing_amounts(facts: Mapping[str, MaturityFacts]) -> dict[str, int]:
    """Per provider, what matures at this close (providers with nothing to mature left out)."""
    out = {p: maturing_amount(f) for p, f in facts.items()}
    return {p: a for p, a in sorted(out.items()) if a > 0}
