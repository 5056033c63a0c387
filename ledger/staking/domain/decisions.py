"""What production decides about stake (pure): lock tiers, under-stake streaks, unbonding
periods and the part of a bond that is free to leave. SQL only loads the facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from ledger.params.domain import ParameterSet

#: Commitment tier of a provider whose locked stake does not cover its requirement.
DEFAULT_COMMITMENT_TIER = "flexible"

#: ``StakeEvent.kind``: a movement of bonded stake, or a new version of one of its nodes.
EVENT_STAKE = 0
EVENT_NODE_VERSION = 1


class StakeEvent(NamedTuple):
    """A fact of a provider's stake history: a bonded-stake movement (``value`` is the signed
    amount) or a node version (``value`` is the node's required stake, ``active`` its status).
    At the same instant stake movements sort before node versions."""

    at_s: float
    kind: int
    node_id: str
    value: int
    active: bool


def commitment_tiers(
    locked: Mapping[str, Sequence[tuple[int, int]]],
    required: Mapping[str, int],
    params: ParameterSet,
) -> dict[str, str]:
    """Each provider's commitment tier: the longest tier whose still-locked stake (bonds locked
    at least that long) alone covers the stake its nodes require; flexible otherwise.

    ``locked`` maps a provider to its bonds still in their lock: (lock length s, amount).
    """
    out = {}
    for provider, bonds in locked.items():
        need = required.get(provider, 0)
        best = DEFAULT_COMMITMENT_TIER
        for tier in params.multipliers.commitment_tiers:
            if tier.lock_s == 0:
                continue
            covered = sum(amount for lock_s, amount in bonds if lock_s >= tier.lock_s)
            if need > 0 and covered >= need:
                best = tier.name
        out[provider] = best
    names = {t.name for t in params.multipliers.commitment_tiers}
    assert set(out.values()) <= names | {DEFAULT_COMMITMENT_TIER}
    return out


def under_stake_since(events: Iterable[StakeEvent]) -> int | None:
    """Replay one provider's stake history in time order: since when (Unix s) it has been
    under its required stake without a break, or ``None`` when it is compliant at the end.

    Required stake is the sum over the provider's nodes of their latest version's requirement
    (0 for an inactive node); bonded stake is the running sum of the movements.
    """
    bonded = 0
    required: dict[str, int] = {}
    since: int | None = None
    for ev in sorted(events, key=lambda e: (e.at_s, e.kind)):
        if ev.kind == EVENT_STAKE:
            bonded += ev.value
        else:
            assert ev.kind == EVENT_NODE_VERSION, ev
            required[ev.node_id] = ev.value if ev.active else 0
        under = bonded < sum(required.values())
        if under and since is None:
            since = int(ev.at_s)
        elif not under:
            since = None
    return since


def free_to_unbond(available_base_units: int, locked_base_units: int) -> int:
    """Bonded stake that may start unbonding: what is available less what is still locked."""
    assert available_base_units >= 0 and locked_base_units >= 0
    return max(0, available_base_units - locked_base_units)


#: SPEC 5's participants. Hardware providers stake through their provider accounts; the other
#: two stake in accounts of their own, owned by ``<kind>:<address>``.
PLATFORM_USER = "platform_user"
NETWORK_OPERATOR = "network_operator"
PARTICIPANT_KINDS = (PLATFORM_USER, NETWORK_OPERATOR)


def participant_owner(stake_kind: str, address: str) -> str:
    """The ledger owner of a platform user's or network operator's stake accounts: its own
    accounts, never a provider's, so that stake earns nothing from the provider pool and counts
    toward no provider's requirement or commitment tier."""
    assert stake_kind in PARTICIPANT_KINDS, stake_kind
    return f"{stake_kind}:{address}"


def participant_min_lock_s(stake_kind: str, params: ParameterSet) -> int:
    """The minimum lock of every bond of the kind (platform users 0: flexible; network
    operators 365 d)."""
    s = params.staking
    if stake_kind == PLATFORM_USER:
        return s.platform_user_min_lock_s
    return s.network_operator_min_lock_s


def participant_unbonding_period_s(stake_kind: str, params: ParameterSet) -> int:
    """Platform users' stake is flexible: withdrawable as soon as it is unbonded (0 s). Network
    operators wait the longest provider unbonding period (28 d by default): their stake secures
    the network and stays slashable for their duties while it leaves."""
    if stake_kind == PLATFORM_USER:
        return 0
    return max(params.provider_type(t).unbonding_period_s for t in params.providers.type_names)
