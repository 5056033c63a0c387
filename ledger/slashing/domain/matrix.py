"""The rows of the slashing matrix (SPEC 6): what each class and kind of violation costs,
before any amount is computed. :func:`decide_row` picks the row; penalties.py does the money."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.kit.money import PPM
from ledger.params.domain import ParameterSet, SlashingParams
from ledger.slashing.domain._text import fmt_duration, fmt_factor, fmt_ppm
from ledger.slashing.domain.kinds import (
    Outcome,
    RecoveryPath,
    Severity,
    UnjailRequirement,
    ViolationClass,
    ViolationKind,
)
from ledger.slashing.domain.ladder import ladder_step
from ledger.slashing.domain.under_stake import under_stake_grace_ends_at_s
from ledger.slashing.domain.violations import Violation


@dataclass(frozen=True, slots=True, kw_only=True)
class RowDecision:
    """One matrix row applied: the parts of a Penalty that do not depend on amounts.

    ``outcome`` is a ladder rung label (poor performance) or an :class:`Outcome`."""

    outcome: str
    recovery: RecoveryPath
    rule: str
    offence_number: int = 0
    fraction_ppm: int = 0
    reward_multiplier_ppm: int = PPM
    rewards_eligible: bool = True
    jail: bool = False
    jail_s: int = 0
    requirements: tuple[UnjailRequirement, ...] = ()
    tombstone: bool = False
    review: bool = False


def _poor_performance(v: Violation, prior_perf: int, params: ParameterSet) -> RowDecision:
    """Downtime, error rate, latency: the ladder rung of the offence in the rolling window."""
    s = params.slashing
    step = ladder_step(prior_perf, params)
    offence = prior_perf + 1
    review = step.governor_review_required
    rule = (
        f"poor performance ({v.kind}): offence {offence} in the rolling "
        f"{fmt_duration(s.offence_window_s)} window, ladder rung {step.offence_number} "
        f"'{step.label}': epoch reward x{fmt_factor(step.reward_multiplier_ppm)}, slash "
        f"{fmt_ppm(step.stake_slash_ppm)} of the stake at risk"
        + (f", jail {fmt_duration(step.jail_s)}" if step.jail_s else ", no jail")
        + (", governor review before unjail" if review else "")
        + "; recovery: automatic unjail, graduated standing restoration"
    )
    return RowDecision(
        outcome=step.label,
        offence_number=offence,
        fraction_ppm=step.stake_slash_ppm,
        reward_multiplier_ppm=step.reward_multiplier_ppm,
        jail=step.jail_s > 0 or review,
        jail_s=step.jail_s,
        requirements=(UnjailRequirement.GOVERNOR_REVIEW,) if review else (),
        review=review,
        recovery=RecoveryPath.AUTOMATIC_UNJAIL,
        rule=rule,
    )


def _security_recovery_text(tombstone: bool) -> str:
    if tombstone:
        return "; no recovery (tombstoned)"
    return "; recovery: security review by a governor quorum"


def _security(offence_number: int, fraction_ppm: int, tomb: bool, rule: str) -> RowDecision:
    """Security breach and malicious activity: jail now (until a review), or tombstone."""
    return RowDecision(
        outcome=Outcome.IMMEDIATE,
        offence_number=offence_number,
        fraction_ppm=fraction_ppm,
        jail=True,
        requirements=() if tomb else (UnjailRequirement.SECURITY_REVIEW,),
        tombstone=tomb,
        review=not tomb,
        recovery=RecoveryPath.NONE if tomb else RecoveryPath.SECURITY_REVIEW,
        rule=rule,
    )


def _security_breach(v: Violation, s: SlashingParams) -> RowDecision:
    assert v.severity is not None  # Violation requires it of a security breach
    fraction = {
        Severity.MINOR: s.security_minor_slash_ppm,
        Severity.MAJOR: s.security_major_slash_ppm,
        Severity.CRITICAL: s.security_critical_slash_ppm,
    }[v.severity]
    tomb = v.severity == Severity.CRITICAL and s.security_critical_tombstone
    rule = (
        f"security breach ({v.severity}): jail now, slash {fmt_ppm(fraction)} of the stake "
        "at risk" + (", tombstone" if tomb else "") + _security_recovery_text(tomb)
    )
    return _security(0, fraction, tomb, rule)


def _malicious_activity(prior_malicious: int, s: SlashingParams) -> RowDecision:
    fraction = s.malicious_slash_ppm
    tomb = prior_malicious >= 1 and s.malicious_tombstone_on_repeat
    rule = (
        f"malicious activity (offence {prior_malicious + 1}): jail now, slash "
        f"{fmt_ppm(fraction)} of the stake at risk"
        + (", tombstone on repeat" if tomb else "")
        + _security_recovery_text(tomb)
    )
    return _security(prior_malicious + 1, fraction, tomb, rule)


def _under_stake(v: Violation, decided_at_s: int, params: ParameterSet) -> RowDecision:
    s = params.slashing
    # The violation's infraction time is when the node was first seen under stake.
    grace_end = under_stake_grace_ends_at_s(v.infraction_at_s, params)
    eligible = decided_at_s < grace_end
    rule = (
        "under-stake: no slash; "
        + (
            f"rewards continue during the {fmt_duration(s.under_stake_grace_s)} grace "
            f"(until {grace_end})"
            if eligible
            else f"zero rewards until compliant (grace ended at {grace_end})"
        )
        + "; recovery: compliance verification (bond the required stake)"
    )
    return RowDecision(
        outcome=Outcome.SCALED,
        reward_multiplier_ppm=PPM if eligible else 0,
        rewards_eligible=eligible,
        recovery=RecoveryPath.COMPLIANCE_VERIFICATION,
        rule=rule,
    )


def _duplicate_hardware(v: Violation, s: SlashingParams) -> RowDecision:
    raw = v.duplicate_count * s.sybil_slash_per_duplicate_ppm
    fraction = min(raw, s.sybil_slash_max_ppm)
    rule = (
        f"duplicate hardware identity: {v.duplicate_count} duplicate node(s) x "
        f"{fmt_ppm(s.sybil_slash_per_duplicate_ppm)} = {fmt_ppm(raw)}, capped at "
        f"{fmt_ppm(s.sybil_slash_max_ppm)} -> slash {fmt_ppm(fraction)} of the stake at "
        "risk; jail until compliance verified; recovery: compliance verification"
    )
    return RowDecision(
        outcome=Outcome.SCALED,
        fraction_ppm=fraction,
        jail=True,
        requirements=(UnjailRequirement.COMPLIANCE_VERIFICATION,),
        recovery=RecoveryPath.COMPLIANCE_VERIFICATION,
        rule=rule,
    )


def _resource_hoarding(v: Violation, s: SlashingParams) -> RowDecision:
    raw = v.severity_units * s.hoarding_slash_per_severity_unit_ppm
    fraction = min(raw, s.hoarding_slash_max_ppm)
    rule = (
        f"resource hoarding: {v.severity_units} severity unit(s) x "
        f"{fmt_ppm(s.hoarding_slash_per_severity_unit_ppm)} = {fmt_ppm(raw)}, max "
        f"{fmt_ppm(s.hoarding_slash_max_ppm)} -> slash {fmt_ppm(fraction)} of the stake at "
        "risk; no jail; recovery: compliance verification"
    )
    return RowDecision(
        outcome=Outcome.SCALED,
        fraction_ppm=fraction,
        recovery=RecoveryPath.COMPLIANCE_VERIFICATION,
        rule=rule,
    )


def decide_row(
    v: Violation,
    *,
    decided_at_s: int,
    prior_perf: int,
    prior_malicious: int,
    params: ParameterSet,
) -> RowDecision:
    """The matrix row of ``v`` applied: ladder rung, fraction, jail, requirements, recovery."""
    s = params.slashing
    if v.klass == ViolationClass.POOR_PERFORMANCE:
        return _poor_performance(v, prior_perf, params)
    if v.kind == ViolationKind.SECURITY_BREACH:
        return _security_breach(v, s)
    if v.kind == ViolationKind.MALICIOUS_ACTIVITY:
        return _malicious_activity(prior_malicious, s)
    if v.kind == ViolationKind.UNDER_STAKE:
        return _under_stake(v, decided_at_s, params)
    if v.kind == ViolationKind.DUPLICATE_HARDWARE:
        return _duplicate_hardware(v, s)
    # Resource hoarding: the last kind (Violation validated it).
    assert v.kind == ViolationKind.RESOURCE_HOARDING, v.kind
    return _resource_hoarding(v, s)
