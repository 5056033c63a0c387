"""The stake rules production runs (SPEC 5 and 6), pure: the stake at risk of an infraction,
who pays a slash (bonded stake first, then the unbonding entries at risk), what is left of an
unbonding entry, and the unbonding period of a request.

Time is unix seconds passed in; amounts are ``int`` base units. The instant convention is the
ledger's: the state *at* ``t`` is the state just before ``t``, so a movement booked at exactly
``t`` counts as after it (a bond at ``t`` is not at risk for an infraction at ``t``, an unbond
requested at ``t`` is).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ledger.params.domain import ParameterSet


class UnbondingEntry(NamedTuple):
    """One unbonding request: its ``unbond:`` transfer id, when it was requested, when it is
    withdrawable, and what is left of it that a hold or a withdrawal may still take."""

    entry_id: str
    requested_at_s: int
    withdrawable_at_s: int
    remaining_base_units: int


def stake_at_risk_base_units(bonded_movements: Iterable[tuple[float, int]], at_s: int) -> int:
    """Bonded stake at the infraction instant ``at_s``: the signed posted movements of
    ``stake_bonded`` (bonds +, unbonds -, executed slashes -, refunds +) booked before it.

    Stake that started unbonding at or after ``at_s`` is still in this sum (it was bonded then,
    SPEC 6); stake that started unbonding before it is not (it no longer backed the node); stake
    bonded at or after it is not.
    """
    total = sum(delta for at, delta in bonded_movements if at < at_s)
    return max(0, total)


def entry_at_risk(entry: UnbondingEntry, infraction_at_s: int) -> bool:
    """Whether an unbonding entry backs an infraction: it was requested at or after it."""
    return entry.requested_at_s >= infraction_at_s


@dataclass(frozen=True, slots=True)
class StakeCharge:
    """Who pays the stake part of a slash: ``from_bonded``, then each entry at risk in the
    order taken, and what no balance can cover (stake withdrawn since the infraction)."""

    from_bonded_base_units: int
    from_entries: tuple[tuple[str, int], ...]
    uncollected_base_units: int

    @property
    def total_base_units(self) -> int:
        return (
            self.from_bonded_base_units
            + sum(a for _, a in self.from_entries)
            + self.uncollected_base_units
        )


def charge_stake(
    amount_base_units: int,
    bonded_available_base_units: int,
    entries: Sequence[UnbondingEntry],
    infraction_at_s: int,
) -> StakeCharge:
    """Charge ``amount_base_units`` of stake: bonded stake first (its available balance, which
    is fungible), then the unbonding entries requested at or after the infraction, oldest
    request first (ties, requests of the same second, in the order ``entries`` gives them:
    the order they were booked, which is the vault's order on chain), each up to what is left
    of it. Entries requested before the infraction never pay. The rest is uncollected. The
    parts sum to the amount exactly.
    """
    assert amount_base_units >= 0 and bonded_available_base_units >= 0
    rest = amount_base_units
    from_bonded = min(rest, bonded_available_base_units)
    rest -= from_bonded
    taken: list[tuple[str, int]] = []
    # sorted() is stable: entries of the same second keep their booking order.
    at_risk = sorted(
        (e for e in entries if entry_at_risk(e, infraction_at_s)), key=lambda e: e.requested_at_s
    )
    for e in at_risk:
        if rest == 0:
            break
        take = min(rest, max(0, e.remaining_base_units))
        if take > 0:
            taken.append((e.entry_id, take))
            rest -= take
    charge = StakeCharge(from_bonded, tuple(taken), rest)
    assert charge.total_base_units == amount_base_units and rest >= 0
    return charge


#: What moves an unbonding entry's remaining amount (``entry_movement`` kinds).
ENTRY_HOLD = "hold"  # a pending slash hold placed on it (-)
ENTRY_HOLD_VOIDED = "hold_voided"  # that hold voided (+)
ENTRY_REFUND = "refund"  # an overturned slash refunded to it (+)
ENTRY_WITHDRAW = "withdraw"  # a withdrawal from it (-)

_ENTRY_SIGN = {ENTRY_HOLD: -1, ENTRY_HOLD_VOIDED: 1, ENTRY_REFUND: 1, ENTRY_WITHDRAW: -1}


def entry_remaining(amount_base_units: int, movements: Iterable[tuple[str, int]]) -> int:
    """What is left of an unbonding entry of ``amount_base_units`` after its movements
    (``(kind, amount)``): holds (pending or executed) and withdrawals take, voided holds and
    refunds give back. Never negative in a consistent ledger (asserted)."""
    left = amount_base_units
    for kind, amount in movements:
        left += _ENTRY_SIGN[kind] * amount
    assert left >= 0, f"unbonding entry overdrawn: {left}"
    return left


def unbonding_period_with_history(
    versions: Iterable[tuple[str, float, str, bool]], now_s: int, params: ParameterSet
) -> int:
    """The unbonding period of a request at ``now_s``: the longest period of any node type the
    provider ran (an active version) at any moment of the lookback window ``(now - L, now]``,
    where ``L`` is the longest unbonding period of the parameter set; the shortest type's
    period when it ran none. Deactivating nodes just before unbonding therefore does not
    shorten the period.

    ``versions`` are the provider's node versions ``(node_id, created_at_s, provider_type,
    active)`` up to ``now_s``.
    """
    periods = [params.provider_type(t).unbonding_period_s for t in params.providers.type_names]
    lookback_s = max(periods)
    window_start = now_s - lookback_s
    by_node: dict[str, list[tuple[float, str, bool]]] = {}
    for node_id, at, ptype, active in versions:
        if at <= now_s:
            by_node.setdefault(node_id, []).append((at, ptype, active))
    ran: set[str] = set()
    for history in by_node.values():
        history.sort()
        for i, (_at, ptype, active) in enumerate(history):
            ends = history[i + 1][0] if i + 1 < len(history) else None
            # Active from its version until the next version: inside the window if it overlaps it.
            if active and (ends is None or ends > window_start):
                ran.add(ptype)
    if not ran:
        return min(periods)
    return max(params.provider_type(t).unbonding_period_s for t in ran)
