"""Provider stake lots: bonding, unbonding, the stake at risk of an infraction, who pays a slash.

Pure: time is ``now_s`` (unix seconds) passed in, periods come from the parameter set, and every
amount is an ``int`` of base units. SPEC section 5 and the slashing rules of section 6, as
implemented (docs/staking.md):

- A **lot** is one deposit of a provider's stake. It is *bonded* from ``bonded_at_s``. Unstaking
  is :func:`request_unbond`: the lot enters the unbonding queue and becomes withdrawable
  ``unbonding_period_s`` later (7 / 14 / 28 d by provider category). :func:`withdraw` records
  that the stake left the vault.
- **Stake at risk** of an infraction at ``t`` (SPEC 5 and 6) is the sum of the lots bonded
  before ``t`` that had not started unbonding before ``t``: a lot whose unbonding was requested
  at or after ``t`` is at risk, one requested before ``t`` is not (it no longer backed the
  node), and one bonded at or after ``t`` is not. The state at an instant is the state just
  before it, as in the ledger (``created_at < t``).
- What is *owed* is computed at the infraction time; what can be *collected* excludes lots that
  have left the vault since: ``as_of_s`` (default the infraction time) drops lots withdrawn at
  or before it.
- **Who pays** (:func:`apply_slash_to_lots`): bonded stake first, pro rata over the bonded lots
  (largest remainders get the leftover units), then the unbonding lots at risk, oldest request
  first. The amounts sum to the slash exactly and no lot pays more than it holds. Production
  runs the same rule over ledger balances and unbonding entries
  (:mod:`ledger.staking.domain.lifecycle`); the property tests check both against a reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from ledger.kit.errors import InvalidInput
from ledger.kit.limits import MAX_LOTS
from ledger.params.domain import ParameterSet
from ledger.registry.domain import HardwareProfile, required_stake_base_units
from ledger.staking.domain.decisions import (
    DEFAULT_COMMITMENT_TIER,
    NETWORK_OPERATOR,
    PARTICIPANT_KINDS,
    PLATFORM_USER,
    StakeEvent,
    commitment_tiers,
    free_to_unbond,
    participant_min_lock_s,
    participant_owner,
    participant_unbonding_period_s,
    under_stake_since,
)
from ledger.staking.domain.lifecycle import (
    StakeCharge,
    UnbondingEntry,
    charge_stake,
    entry_at_risk,
    entry_remaining,
    stake_at_risk_base_units,
    unbonding_period_with_history,
)

__all__ = [
    "DEFAULT_COMMITMENT_TIER",
    "LOT_BONDED",
    "LOT_STATUSES",
    "LOT_UNBONDING",
    "LOT_WITHDRAWN",
    "MAX_LOTS",
    "NETWORK_OPERATOR",
    "PARTICIPANT_KINDS",
    "PLATFORM_USER",
    "StakeCharge",
    "StakeEvent",
    "StakeLot",
    "StakingError",
    "UnbondingEntry",
    "apply_slash_to_lots",
    "bonded_stake_base_units",
    "charge_stake",
    "commitment_tiers",
    "entry_at_risk",
    "entry_remaining",
    "free_to_unbond",
    "is_at_risk",
    "is_under_staked",
    "lock_expires_at_s",
    "participant_min_lock_s",
    "participant_owner",
    "participant_unbonding_period_s",
    "provider_required_stake_base_units",
    "request_unbond",
    "stake_at_risk",
    "stake_at_risk_base_units",
    "unbonding_period_s",
    "unbonding_period_with_history",
    "under_stake_since",
    "withdraw",
    "withdrawable",
]

LOT_BONDED: Final[str] = "bonded"
LOT_UNBONDING: Final[str] = "unbonding"
LOT_WITHDRAWN: Final[str] = "withdrawn"
LOT_STATUSES: Final[tuple[str, ...]] = (LOT_BONDED, LOT_UNBONDING, LOT_WITHDRAWN)

# A limit on everything: a provider with more lots than this is a bug or an attack on the
# slashing worker (every slash walks all lots); refuse instead of working on it for minutes.

#: A valid address used only to validate ``infraction_at_s`` / ``as_of_s`` through is_at_risk.
_PLACEHOLDER: Final[str] = "0x" + "0" * 40
_ADDRESS_RE: Final[re.Pattern[str]] = re.compile(r"0x[0-9a-f]{40}")
_TIER_RE: Final[re.Pattern[str]] = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


class StakingError(InvalidInput, ValueError):
    """A staking input or command refused, with the field named and a stable ``code``."""

    default_code = "invalid_staking_input"


def _require_int(field: str, value: object, low: int = 0) -> int:
    # bool is an int subclass and a float would lose base units; both are refused.
    if isinstance(value, bool) or not isinstance(value, int):
        raise StakingError(
            f"must be an int, not {type(value).__name__}", code="not_an_integer", field=field
        )
    if value < low:
        raise StakingError(f"must be >= {low}, got {value}", code="out_of_range", field=field)
    return value


def _require_optional_int(field: str, value: object) -> int | None:
    return None if value is None else _require_int(field, value)


@dataclass(frozen=True, slots=True)
class StakeLot:
    """One deposit of provider stake and where it is in its life: bonded, unbonding, withdrawn.

    ``unbonding_requested_at_s`` and ``withdrawable_at_s`` are set together by
    :func:`request_unbond`; ``withdrawn_at_s`` by :func:`withdraw`. ``lock_tier`` names the
    commitment tier of the lot (``flexible``, ``30d``, ...). ``lot_id`` is the caller's stable
    identifier (e.g. the vault's deposit id); it only breaks ties in :func:`apply_slash_to_lots`.
    ``amount_base_units`` is the current amount, after any earlier slash.
    """

    provider_id: str
    amount_base_units: int
    lock_tier: str
    bonded_at_s: int
    unbonding_requested_at_s: int | None = None
    withdrawable_at_s: int | None = None
    withdrawn_at_s: int | None = None
    lot_id: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.provider_id, str) or not _ADDRESS_RE.fullmatch(self.provider_id):
            raise StakingError(
                f"must be a lower-case 0x address, got {self.provider_id!r}",
                code="address_format",
                field="provider_id",
            )
        _require_int("amount_base_units", self.amount_base_units)
        if not isinstance(self.lock_tier, str) or not _TIER_RE.fullmatch(self.lock_tier):
            raise StakingError(
                "must be a lower-case tier name", code="tier_format", field="lock_tier"
            )
        _require_int("bonded_at_s", self.bonded_at_s)
        requested = _require_optional_int("unbonding_requested_at_s", self.unbonding_requested_at_s)
        withdrawable_at = _require_optional_int("withdrawable_at_s", self.withdrawable_at_s)
        withdrawn = _require_optional_int("withdrawn_at_s", self.withdrawn_at_s)
        if not isinstance(self.lot_id, str):
            raise StakingError("must be a str", code="not_a_string", field="lot_id")
        if (requested is None) != (withdrawable_at is None):
            raise StakingError(
                "is set exactly when unbonding_requested_at_s is",
                code="inconsistent_unbonding",
                field="withdrawable_at_s",
            )
        if requested is not None and withdrawable_at is not None:
            if requested < self.bonded_at_s:
                raise StakingError(
                    "must not precede bonded_at_s",
                    code="before_bond",
                    field="unbonding_requested_at_s",
                )
            if withdrawable_at < requested:
                raise StakingError(
                    "must not precede the unbond request",
                    code="before_request",
                    field="withdrawable_at_s",
                )
        if withdrawn is not None and (withdrawable_at is None or withdrawn < withdrawable_at):
            raise StakingError(
                "a lot is withdrawn only after its unbonding period has passed",
                code="not_withdrawable",
                field="withdrawn_at_s",
            )

    @property
    def status(self) -> str:
        """``bonded``, ``unbonding`` (requested, not withdrawn) or ``withdrawn``."""
        if self.withdrawn_at_s is not None:
            return LOT_WITHDRAWN
        if self.unbonding_requested_at_s is not None:
            return LOT_UNBONDING
        return LOT_BONDED


def _check_lots(lots: Sequence[StakeLot]) -> None:
    if len(lots) > MAX_LOTS:
        raise StakingError(
            f"at most {MAX_LOTS} lots, got {len(lots)}", code="too_many_lots", field="lots"
        )
    for i, lot in enumerate(lots):
        if not isinstance(lot, StakeLot):
            raise StakingError("must be a StakeLot", code="not_a_lot", field=f"lots[{i}]")


def is_at_risk(lot: StakeLot, infraction_at_s: int, *, as_of_s: int | None = None) -> bool:
    """Whether ``lot`` backs an infraction at ``infraction_at_s`` (SPEC 5 and 6).

    The state at an instant is the state just before it (the ledger's convention): the lot was
    bonded before the infraction, had not started unbonding before it (a request at or after
    the infraction keeps it at risk), and was not withdrawn at or before ``as_of_s`` (default:
    the infraction time; must not precede it). Stake that started unbonding before the
    infraction no longer backed the node and is not at risk.
    """
    _require_int("infraction_at_s", infraction_at_s)
    cutoff_s = infraction_at_s if as_of_s is None else _require_int("as_of_s", as_of_s)
    if cutoff_s < infraction_at_s:
        raise StakingError(
            "must not precede infraction_at_s", code="before_infraction", field="as_of_s"
        )
    if lot.bonded_at_s >= infraction_at_s:
        return False
    if lot.unbonding_requested_at_s is not None and lot.unbonding_requested_at_s < infraction_at_s:
        return False
    return lot.withdrawn_at_s is None or lot.withdrawn_at_s > cutoff_s


def stake_at_risk(
    lots: Sequence[StakeLot], infraction_at_s: int, *, as_of_s: int | None = None
) -> int:
    """Sum of the lots at risk for an infraction at ``infraction_at_s`` (:func:`is_at_risk`)."""
    _check_lots(lots)
    return sum(
        lot.amount_base_units for lot in lots if is_at_risk(lot, infraction_at_s, as_of_s=as_of_s)
    )


def _tie_key(lot: StakeLot) -> tuple[str, int, int, int, int, int, str, str]:
    """Every field of the lot, so only equal (interchangeable) lots tie; None sorts first."""
    return (
        lot.lot_id,
        lot.bonded_at_s,
        lot.amount_base_units,
        -1 if lot.unbonding_requested_at_s is None else lot.unbonding_requested_at_s,
        -1 if lot.withdrawable_at_s is None else lot.withdrawable_at_s,
        -1 if lot.withdrawn_at_s is None else lot.withdrawn_at_s,
        lot.lock_tier,
        lot.provider_id,
    )


def _is_bonded_at(lot: StakeLot, at_s: int) -> bool:
    """Bonded (not unbonding) just before ``at_s``."""
    return lot.bonded_at_s < at_s and (
        lot.unbonding_requested_at_s is None or lot.unbonding_requested_at_s >= at_s
    )


def _pro_rata(amount: int, lots: Sequence[tuple[int, StakeLot]]) -> dict[int, int]:
    """``amount`` (at most the lots' total) over ``lots`` pro rata: floors, then the leftover
    units one each to the largest remainders (ties by :func:`_tie_key`, then position)."""
    total = sum(lot.amount_base_units for _, lot in lots)
    assert 0 <= amount <= total
    taken: dict[int, int] = {}
    remainders: list[tuple[int, tuple[str, int, int, int, int, int, str, str], int]] = []
    for i, lot in lots:
        # Floor division: each lot pays at most its exact pro-rata share, rounded down.
        share, remainder = divmod(amount * lot.amount_base_units, total) if total else (0, 0)
        taken[i] = share
        remainders.append((-remainder, _tie_key(lot), i))
    leftover = amount - sum(taken.values())
    # leftover < number of lots with a non-zero remainder, so a lot whose share was exact (and
    # may be its whole amount) never gets one.
    for _neg_rem, _key, i in sorted(remainders)[:leftover]:
        taken[i] += 1
    return taken


def apply_slash_to_lots(
    lots: Sequence[StakeLot],
    slash_base_units: int,
    infraction_at_s: int,
    *,
    as_of_s: int | None = None,
) -> list[tuple[StakeLot, int]]:
    """Decide how much each lot pays of ``slash_base_units``: ``[(lot, taken), ...]``.

    Bonded stake first (SPEC 6, as production charges ``stake_bonded`` before
    ``stake_unbonding``): the lots bonded at ``as_of_s`` (default the infraction time), pro
    rata, floors and the leftover units to the largest remainders. Bonded stake is fungible:
    a lot bonded after the infraction pays as bonded stake, although it is not part of the
    stake at risk the slash was computed from. Then the unbonding lots at risk (requested at or
    after the infraction, not withdrawn by ``as_of_s``), oldest request first (ties by
    :func:`_tie_key`), each up to its amount. Only lots that pay are returned, in input order;
    the takes sum to the slash exactly and none exceeds its lot. More than those lots hold is
    refused (``slash_exceeds_stake_at_risk``).
    """
    _check_lots(lots)
    _require_int("slash_base_units", slash_base_units)
    cutoff_s = infraction_at_s if as_of_s is None else as_of_s
    is_at_risk(StakeLot(_PLACEHOLDER, 0, "flexible", 0), infraction_at_s, as_of_s=as_of_s)
    bonded = [(i, lot) for i, lot in enumerate(lots) if _is_bonded_at(lot, cutoff_s)]
    bonded_ids = {i for i, _ in bonded}
    unbonding = sorted(
        (
            (i, lot)
            for i, lot in enumerate(lots)
            if i not in bonded_ids
            and lot.unbonding_requested_at_s is not None
            and is_at_risk(lot, infraction_at_s, as_of_s=as_of_s)
        ),
        key=lambda x: (x[1].unbonding_requested_at_s, _tie_key(x[1]), x[0]),
    )
    bonded_total = sum(lot.amount_base_units for _, lot in bonded)
    payable = bonded_total + sum(lot.amount_base_units for _, lot in unbonding)
    if slash_base_units > payable:
        raise StakingError(
            f"slash {slash_base_units} exceeds the stake that can pay it {payable}",
            code="slash_exceeds_stake_at_risk",
            field="slash_base_units",
        )
    from_bonded = min(slash_base_units, bonded_total)
    taken = _pro_rata(from_bonded, bonded)
    rest = slash_base_units - from_bonded
    for i, lot in unbonding:
        take = min(rest, lot.amount_base_units)
        taken[i] = take
        rest -= take
    assert rest == 0 and sum(taken.values()) == slash_base_units
    return [(lots[i], taken[i]) for i in sorted(taken) if taken[i] > 0]


def unbonding_period_s(provider_type: str, params: ParameterSet) -> int:
    """The unbonding period of ``provider_type`` (7 / 14 / 28 d by default, SPEC 2)."""
    return params.provider_type(provider_type).unbonding_period_s


def lock_expires_at_s(lot: StakeLot, params: ParameterSet) -> int:
    """When the lot's commitment tier lock ends (``bonded_at_s`` for the flexible tier)."""
    try:
        tier = params.multipliers.commitment_tier(lot.lock_tier)
    except KeyError as exc:
        raise StakingError(str(exc), code="unknown_tier", field="lock_tier") from exc
    return lot.bonded_at_s + tier.lock_s


def request_unbond(
    lot: StakeLot, now_s: int, unbonding_period_s: int, *, lock_expires_at_s: int | None = None
) -> StakeLot:
    """Put ``lot`` in the unbonding queue at ``now_s``; withdrawable ``unbonding_period_s`` later.

    Refused when the lot is already unbonding or withdrawn (``already_unbonding``), when
    ``now_s`` precedes the bond, or, given ``lock_expires_at_s`` (:func:`lock_expires_at_s`),
    before the commitment lock ends (``lock_not_expired``).
    """
    _require_int("now_s", now_s)
    _require_int("unbonding_period_s", unbonding_period_s)
    if lot.unbonding_requested_at_s is not None:
        raise StakingError(
            f"the lot is already {lot.status}", code="already_unbonding", field="lot"
        )
    if now_s < lot.bonded_at_s:
        raise StakingError("an unbond cannot precede the bond", code="before_bond", field="now_s")
    if lock_expires_at_s is not None and now_s < _require_int(
        "lock_expires_at_s", lock_expires_at_s
    ):
        raise StakingError(
            f"the commitment lock runs until {lock_expires_at_s}",
            code="lock_not_expired",
            field="now_s",
        )
    return replace(
        lot, unbonding_requested_at_s=now_s, withdrawable_at_s=now_s + unbonding_period_s
    )


def withdrawable(lot: StakeLot, now_s: int) -> bool:
    """Whether ``lot`` may be withdrawn at ``now_s``: unbonding, not withdrawn, period over."""
    _require_int("now_s", now_s)
    return (
        lot.withdrawn_at_s is None
        and lot.withdrawable_at_s is not None
        and now_s >= lot.withdrawable_at_s
    )


def withdraw(lot: StakeLot, now_s: int) -> StakeLot:
    """Record the withdrawal of ``lot`` at ``now_s``; ``not_withdrawable`` before its time."""
    if not withdrawable(lot, now_s):
        raise StakingError(
            f"the lot is {lot.status}, withdrawable at {lot.withdrawable_at_s}",
            code="not_withdrawable",
            field="lot",
        )
    return replace(lot, withdrawn_at_s=now_s)


def bonded_stake_base_units(lots: Sequence[StakeLot], now_s: int) -> int:
    """Stake that counts toward the required stake at ``now_s``: bonded, not unbonding.

    Unbonding stake is still slashable but no longer backs new work, so it does not count.
    """
    _check_lots(lots)
    _require_int("now_s", now_s)
    return sum(
        lot.amount_base_units
        for lot in lots
        if lot.bonded_at_s <= now_s
        and (lot.unbonding_requested_at_s is None or lot.unbonding_requested_at_s > now_s)
    )


def provider_required_stake_base_units(
    nodes: Iterable[tuple[str, HardwareProfile]], params: ParameterSet
) -> int:
    """Stake a provider must bond for its nodes: the sum of each node's required stake.

    Each node's requirement is :func:`ledger.registry.domain.required_stake_base_units`
    (``max(type minimum, per GPU x GPUs + per TB x TB)``), not recomputed here.
    """
    return sum(required_stake_base_units(ptype, profile, params) for ptype, profile in nodes)


def is_under_staked(lots: Sequence[StakeLot], now_s: int, required_base_units: int) -> bool:
    """Whether the bonded stake at ``now_s`` is below ``required_base_units`` (strictly)."""
    _require_int("required_base_units", required_base_units)
    return bonded_stake_base_units(lots, now_s) < required_base_units
