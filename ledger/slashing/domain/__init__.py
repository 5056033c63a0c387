"""The slashing matrix (SPEC 6): violations, the graduated ladder, penalties, standing, appeals.

Pure: time (``*_at_s``, unix seconds), epochs and the parameter set are arguments; nothing here
reads a clock, a file or the network. Amounts are ``int`` base units, fractions ``int`` ppm.
docs/slashing.md is the page that goes with this module. In short:

1. **Violations** (:class:`Violation`) have a stable ``kind`` and ``klass``, the infraction epoch
   and time, and canonical evidence. The id is the SHA-256 of kind, node, infraction epoch and
   the evidence digest, so the same evidence always yields the same id and the ledger's
   idempotency on it gives "one slash per incident".
2. **Detection**: poor performance from a telemetry rollup
   (:func:`detect_performance_violations`), duplicate hardware from fingerprints
   (:func:`detect_sybil`); security, malicious and hoarding reports are built with
   :func:`make_violation`. Downtime in a region where more than 20% of the nodes went down in the
   same epoch is waived as a network incident (:func:`waive_correlated_outages`).
3. **Penalty** (:func:`decide_penalty`): the matrix row, the ladder rung for poor performance
   (offences counted over a rolling 30-day window, :func:`count_offences`), the slash rounded
   down from the stake at risk, taken from unclaimed rewards first, and split into insurance,
   treasury and burn whose floors plus remainder (to insurance) sum to the slash exactly.
4. **Standing** (:class:`NodeStanding`): active / jailed / tombstoned, what an unjail needs, and
   the standing multiplier with its restoration steps; a voided penalty is undone by replaying
   the node's events without it.
5. **Appeals**: :func:`can_appeal` before the deadline, :func:`decide_appeal` by a quorum.

This package is a facade over one submodule per concern: ``kinds`` (the stable codes, as
StrEnums), ``errors`` (SlashingError and the input checks), ``evidence`` (canonical evidence and
ids), ``violations``, ``detection``, ``waivers``, ``ladder``, ``matrix`` (the rows, before
amounts), ``penalties`` (amounts, split), ``under_stake``, ``standing`` and ``appeals``.
"""

from __future__ import annotations

from ledger.slashing.domain.appeals import Appeal, can_appeal, cast_vote, decide_appeal, file_appeal
from ledger.slashing.domain.detection import (
    detect_performance_violations,
    detect_sybil,
    performance_offence,
)
from ledger.slashing.domain.errors import SlashingError
from ledger.slashing.domain.evidence import canonical_evidence, evidence_digest, violation_id
from ledger.slashing.domain.kinds import (
    KIND_CLASS,
    PERFORMANCE_KINDS,
    AppealStatus,
    Outcome,
    RecoveryPath,
    ReleaseKind,
    Severity,
    SlashStatus,
    StandingStatus,
    UnjailRequirement,
    ViolationClass,
    ViolationKind,
    Vote,
    WaiverReason,
)
from ledger.slashing.domain.ladder import count_offences, ladder_step
from ledger.slashing.domain.penalties import Penalty, SlashSplit, decide_penalty, split_slashed
from ledger.slashing.domain.standing import (
    NodeStanding,
    StandingEvent,
    StandingEventKind,
    StandingSnapshot,
    apply_penalty,
    approve_review,
    compliance_passed,
    new_standing,
    settle_penalty,
    standing_after_epoch,
    tick_epoch,
    void_penalty,
)
from ledger.slashing.domain.under_stake import (
    under_stake_grace_ends_at_s,
    under_stake_rewards_eligible,
)
from ledger.slashing.domain.violations import Violation, make_violation
from ledger.slashing.domain.waivers import (
    Waiver,
    correlated_outage_regions,
    waive_correlated_outages,
)

__all__ = [
    "KIND_CLASS",
    "PERFORMANCE_KINDS",
    "Appeal",
    "AppealStatus",
    "NodeStanding",
    "Outcome",
    "Penalty",
    "RecoveryPath",
    "ReleaseKind",
    "Severity",
    "SlashSplit",
    "SlashStatus",
    "SlashingError",
    "StandingEvent",
    "StandingEventKind",
    "StandingSnapshot",
    "StandingStatus",
    "UnjailRequirement",
    "Violation",
    "ViolationClass",
    "ViolationKind",
    "Vote",
    "Waiver",
    "WaiverReason",
    "apply_penalty",
    "approve_review",
    "can_appeal",
    "canonical_evidence",
    "cast_vote",
    "compliance_passed",
    "correlated_outage_regions",
    "count_offences",
    "decide_appeal",
    "decide_penalty",
    "detect_performance_violations",
    "detect_sybil",
    "evidence_digest",
    "file_appeal",
    "ladder_step",
    "make_violation",
    "new_standing",
    "performance_offence",
    "settle_penalty",
    "split_slashed",
    "standing_after_epoch",
    "tick_epoch",
    "under_stake_grace_ends_at_s",
    "under_stake_rewards_eligible",
    "violation_id",
    "void_penalty",
    "waive_correlated_outages",
]
