"""Penalties: the matrix row applied to the stake at risk. The slash is rounded down, taken from
unclaimed rewards first, and split into insurance, treasury and burn exactly."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.kit.money import PPM, Rounding, format_swarm, mul_div
from ledger.params.domain import ParameterSet
from ledger.slashing.domain.errors import SlashingError, require_int
from ledger.slashing.domain.evidence import penalty_id_of
from ledger.slashing.domain.kinds import (
    RecoveryPath,
    UnjailRequirement,
    ViolationClass,
    ViolationKind,
)
from ledger.slashing.domain.matrix import RowDecision, decide_row
from ledger.slashing.domain.violations import Violation


@dataclass(frozen=True, slots=True)
class SlashSplit:
    """Where slashed funds go; the three amounts sum to ``amount_base_units`` exactly."""

    amount_base_units: int
    insurance_base_units: int
    treasury_base_units: int
    burn_base_units: int


def split_slashed(amount_base_units: int, params: ParameterSet) -> SlashSplit:
    """Split a slashed amount 50% insurance / 30% treasury / 20% burn (default shares).

    Treasury and burn get ``floor(amount x share / 1e6)``; the insurance pool gets the rest,
    i.e. its own floored share plus every remainder base unit, so the parts sum exactly and the
    dust lands where overturned slashes are refunded from.
    """
    require_int("amount_base_units", amount_base_units)
    s = params.slashing
    treasury = mul_div(amount_base_units, s.split_treasury_ppm, PPM, Rounding.DOWN)
    burn = mul_div(amount_base_units, s.split_burn_ppm, PPM, Rounding.DOWN)
    insurance = amount_base_units - treasury - burn
    # The shares sum to 1e6 (ParameterSet checks it), so two floors never exceed the amount.
    assert insurance >= 0 and treasury >= 0 and burn >= 0, (insurance, treasury, burn)
    assert insurance + treasury + burn == amount_base_units
    return SlashSplit(
        amount_base_units=amount_base_units,
        insurance_base_units=insurance,
        treasury_base_units=treasury,
        burn_base_units=burn,
    )


@dataclass(frozen=True, slots=True)
class Penalty:
    """What the matrix decided for one violation; everything the ledger and standing need.

    Amounts: ``slash_base_units = floor(stake_at_risk x slash_fraction_ppm / 1e6)``, taken from
    unclaimed rewards first (``from_rewards_base_units``) and the stake for the rest
    (``from_stake_base_units``), split ``insurance + treasury + burn`` exactly.
    ``reward_multiplier_ppm`` scales the offence epoch's reward; ``reward_withheld_base_units``
    is what that costs (``epoch_reward - floor(epoch_reward x multiplier / 1e6)``); it is not
    slashed funds and is not split. ``jail_until_s`` is None for no jail and for a jail without
    a time bound (until a review or compliance check); ``unjail_requirements`` are the checks an
    unjail waits for besides time. ``appeal_deadline_s`` is the decision time plus the appeal
    window: the slash stays pending until then. ``rule`` explains the decision in words.
    """

    penalty_id: str
    violation_id: str
    node_id: str
    provider_id: str
    kind: ViolationKind
    klass: ViolationClass
    infraction_epoch: int
    infraction_at_s: int
    decided_at_s: int
    params_version: int
    outcome: str
    offence_number: int
    slash_fraction_ppm: int
    stake_at_risk_base_units: int
    slash_base_units: int
    from_rewards_base_units: int
    from_stake_base_units: int
    reward_multiplier_ppm: int
    epoch_reward_base_units: int
    reward_withheld_base_units: int
    rewards_eligible: bool
    jail: bool
    jail_s: int
    jail_until_s: int | None
    unjail_requirements: tuple[UnjailRequirement, ...]
    tombstone: bool
    governor_review_required: bool
    recovery_path: RecoveryPath
    appeal_deadline_s: int
    insurance_base_units: int
    treasury_base_units: int
    burn_base_units: int
    rule: str

    def __post_init__(self) -> None:
        # Invariants of the decision; a violation of one is a bug, so fail loudly.
        if not 0 <= self.slash_base_units <= self.stake_at_risk_base_units:
            raise SlashingError(
                "slash > stake", code="slash_exceeds_stake", field="slash_base_units"
            )
        if self.from_rewards_base_units + self.from_stake_base_units != self.slash_base_units:
            raise SlashingError(
                "rewards + stake", code="split_mismatch", field="from_rewards_base_units"
            )
        if (
            self.insurance_base_units + self.treasury_base_units + self.burn_base_units
            != self.slash_base_units
        ):
            raise SlashingError(
                "split != slash", code="split_mismatch", field="insurance_base_units"
            )

    @property
    def split(self) -> SlashSplit:
        """The distribution of the slashed funds."""
        return SlashSplit(
            self.slash_base_units,
            self.insurance_base_units,
            self.treasury_base_units,
            self.burn_base_units,
        )

    @property
    def affects_standing(self) -> bool:
        """Whether applying it changes a node's standing (jail, tombstone or a slash)."""
        return self.jail or self.tombstone or self.slash_fraction_ppm > 0

    @property
    def appealable(self) -> bool:
        """Whether there is a sanction to appeal: a slash, a jail, a tombstone or lost reward."""
        return (
            self.slash_base_units > 0
            or self.jail
            or self.tombstone
            or self.reward_multiplier_ppm < PPM
        )


@dataclass(frozen=True, slots=True)
class _Amounts:
    """The money of a decision: the slash, where it is taken from, the reward withheld."""

    stake: int
    slash: int
    from_rewards: int
    from_stake: int
    split: SlashSplit
    epoch_reward: int
    withheld: int


def _amounts(
    d: RowDecision, stake: int, unclaimed: int, epoch_reward: int, params: ParameterSet
) -> _Amounts:
    # Round down: the provider never pays a base unit more than the fraction says, and a
    # fraction <= 100% keeps the slash within the stake at risk.
    slash = mul_div(stake, d.fraction_ppm, PPM, Rounding.DOWN)
    # Rewards first: as much of the slash as the unclaimed rewards cover, the stake the rest.
    from_rewards = min(slash, unclaimed)
    from_stake = slash - from_rewards
    assert 0 <= from_rewards <= unclaimed and from_stake >= 0
    assert from_rewards + from_stake == slash
    # The kept reward rounds down like every reward; what is withheld is the exact rest.
    kept = mul_div(epoch_reward, d.reward_multiplier_ppm, PPM, Rounding.DOWN)
    withheld = epoch_reward - kept
    assert 0 <= withheld <= epoch_reward
    return _Amounts(
        stake, slash, from_rewards, from_stake, split_slashed(slash, params), epoch_reward, withheld
    )


def _rule(d: RowDecision, a: _Amounts, params: ParameterSet) -> str:
    """The decision in words: the row's rule, then the arithmetic that applied it."""
    split = a.split
    return "; ".join(
        (
            f"{d.rule}. Stake at risk {a.stake} ({format_swarm(a.stake)} SWARM) x "
            f"{d.fraction_ppm} ppm / 1e6 = {a.slash} base units ({format_swarm(a.slash)} SWARM, "
            "rounded down)",
            f"rewards first: {a.from_rewards} from unclaimed rewards, {a.from_stake} from stake",
            f"split insurance {split.insurance_base_units} / treasury "
            f"{split.treasury_base_units} / burn {split.burn_base_units} (floors, remainder to "
            "insurance)",
            f"epoch reward {a.epoch_reward} -> withheld {a.withheld}",
            f"parameter set v{params.version}",
        )
    )


def _penalty(
    v: Violation, d: RowDecision, a: _Amounts, decided_at_s: int, params: ParameterSet
) -> Penalty:
    """The Penalty record of a decision: the violation's identity, the row, the amounts."""
    return Penalty(
        penalty_id=penalty_id_of(v.violation_id),
        violation_id=v.violation_id,
        node_id=v.node_id,
        provider_id=v.provider_id,
        kind=v.kind,
        klass=v.klass,
        infraction_epoch=v.infraction_epoch,
        infraction_at_s=v.infraction_at_s,
        decided_at_s=decided_at_s,
        params_version=params.version,
        outcome=d.outcome,
        offence_number=d.offence_number,
        slash_fraction_ppm=d.fraction_ppm,
        stake_at_risk_base_units=a.stake,
        slash_base_units=a.slash,
        from_rewards_base_units=a.from_rewards,
        from_stake_base_units=a.from_stake,
        reward_multiplier_ppm=d.reward_multiplier_ppm,
        epoch_reward_base_units=a.epoch_reward,
        reward_withheld_base_units=a.withheld,
        rewards_eligible=d.rewards_eligible,
        jail=d.jail,
        jail_s=d.jail_s,
        # Jail is immediate: a time bound runs from the decision.
        jail_until_s=decided_at_s + d.jail_s if d.jail and d.jail_s > 0 else None,
        unjail_requirements=d.requirements,
        tombstone=d.tombstone,
        governor_review_required=d.review,
        recovery_path=d.recovery,
        appeal_deadline_s=decided_at_s + params.slashing.appeal_window_s,
        insurance_base_units=a.split.insurance_base_units,
        treasury_base_units=a.split.treasury_base_units,
        burn_base_units=a.split.burn_base_units,
        rule=_rule(d, a, params),
    )


def decide_penalty(
    violation: Violation,
    *,
    decided_at_s: int,
    prior_poor_performance_offences_in_window: int,
    prior_malicious_count: int,
    stake_at_risk_base_units: int,
    unclaimed_rewards_base_units: int,
    epoch_reward_base_units: int,
    params: ParameterSet,
) -> Penalty:
    """Apply the matrix to ``violation``: the :class:`Penalty` decided at ``decided_at_s``.

    ``prior_poor_performance_offences_in_window`` is :func:`count_offences` over the node's
    counted poor-performance offences before this one; ``prior_malicious_count`` counts earlier
    upheld malicious-activity penalties of the node (a repeat tombstones). The stake at risk is
    :func:`ledger.staking.domain.stake_at_risk` at ``violation.infraction_at_s``;
    ``unclaimed_rewards_base_units`` is what the provider has accrued and not claimed; and
    ``epoch_reward_base_units`` the node's reward of the offence epoch (for the ladder's reward
    multiplier). Jails start at ``decided_at_s`` (jail is immediate); the slash is pending until
    ``decided_at_s + appeal_window_s``.
    """
    if not isinstance(violation, Violation):
        raise SlashingError("must be a Violation", code="not_a_violation", field="violation")
    require_int("decided_at_s", decided_at_s)
    prior_perf = require_int(
        "prior_poor_performance_offences_in_window", prior_poor_performance_offences_in_window
    )
    prior_malicious = require_int("prior_malicious_count", prior_malicious_count)
    stake = require_int("stake_at_risk_base_units", stake_at_risk_base_units)
    unclaimed = require_int("unclaimed_rewards_base_units", unclaimed_rewards_base_units)
    epoch_reward = require_int("epoch_reward_base_units", epoch_reward_base_units)
    if decided_at_s < violation.infraction_at_s:
        raise SlashingError(
            "must not precede the infraction", code="before_infraction", field="decided_at_s"
        )
    d = decide_row(
        violation,
        decided_at_s=decided_at_s,
        prior_perf=prior_perf,
        prior_malicious=prior_malicious,
        params=params,
    )
    amounts = _amounts(d, stake, unclaimed, epoch_reward, params)
    return _penalty(violation, d, amounts, decided_at_s, params)
