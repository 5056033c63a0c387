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
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from ledger.kit.errors import ErrorKind, InvalidInput
from ledger.kit.limits import (
    MAX_APPEAL_VOTES,
    MAX_DUPLICATE_COUNT,
    MAX_EVIDENCE_ITEMS,
    MAX_EVIDENCE_KEY_CHARS,
    MAX_EVIDENCE_VALUE_CHARS,
    MAX_OFFENCE_HISTORY,
    MAX_SEVERITY_UNITS,
    MAX_STANDING_LOG_EVENTS,
    MAX_SYBIL_NODES,
)
from ledger.kit.money import PPM, Rounding, format_swarm, mul_div
from ledger.params.domain import LadderStep, ParameterSet
from ledger.telemetry.domain import NodeEpochRollup

__all__ = [
    "APPEAL_PENDING",
    "APPEAL_UPHELD",
    "APPEAL_VOIDED",
    "CLASS_POOR_PERFORMANCE",
    "CLASS_PROTOCOL_VIOLATION",
    "CLASS_SECURITY_BREACH",
    "KIND_CLASS",
    "KIND_DOWNTIME",
    "KIND_DUPLICATE_HARDWARE",
    "KIND_ERROR_RATE",
    "KIND_LATENCY",
    "KIND_MALICIOUS_ACTIVITY",
    "KIND_RESOURCE_HOARDING",
    "KIND_SECURITY_BREACH",
    "KIND_UNDER_STAKE",
    "MAX_APPEAL_VOTES",
    "MAX_EVIDENCE_ITEMS",
    "MAX_EVIDENCE_KEY_CHARS",
    "MAX_EVIDENCE_VALUE_CHARS",
    "MAX_OFFENCE_HISTORY",
    "MAX_SEVERITY_UNITS",
    "MAX_STANDING_LOG_EVENTS",
    "MAX_SYBIL_NODES",
    "OUTCOME_IMMEDIATE",
    "OUTCOME_SCALED",
    "PERFORMANCE_KINDS",
    "RECOVERY_AUTOMATIC_UNJAIL",
    "RECOVERY_COMPLIANCE_VERIFICATION",
    "RECOVERY_NONE",
    "RECOVERY_SECURITY_REVIEW",
    "REQUIRES_COMPLIANCE_VERIFICATION",
    "REQUIRES_GOVERNOR_REVIEW",
    "REQUIRES_SECURITY_REVIEW",
    "SECURITY_SEVERITIES",
    "SEVERITY_CRITICAL",
    "SEVERITY_MAJOR",
    "SEVERITY_MINOR",
    "SLASH_EXECUTED",
    "SLASH_PENDING",
    "SLASH_UPHELD",
    "SLASH_VOIDED",
    "STATUS_ACTIVE",
    "STATUS_JAILED",
    "STATUS_TOMBSTONED",
    "UNJAIL_REQUIREMENTS",
    "VIOLATION_KINDS",
    "VOTE_UPHOLD",
    "VOTE_VOID",
    "WAIVER_CORRELATED_OUTAGE",
    "Appeal",
    "NodeStanding",
    "Penalty",
    "SlashSplit",
    "SlashingError",
    "StandingEvent",
    "StandingSnapshot",
    "Violation",
    "Waiver",
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

# --------------------------------------------------------------------------------------------
# Stable codes. They end up in the ledger, the API and on chain; never rename one.

KIND_DOWNTIME: Final[str] = "downtime"
KIND_ERROR_RATE: Final[str] = "error_rate"
KIND_LATENCY: Final[str] = "latency"
KIND_SECURITY_BREACH: Final[str] = "security_breach"
KIND_MALICIOUS_ACTIVITY: Final[str] = "malicious_activity"
KIND_UNDER_STAKE: Final[str] = "under_stake"
KIND_DUPLICATE_HARDWARE: Final[str] = "duplicate_hardware"
KIND_RESOURCE_HOARDING: Final[str] = "resource_hoarding"
VIOLATION_KINDS: Final[tuple[str, ...]] = (
    KIND_DOWNTIME,
    KIND_ERROR_RATE,
    KIND_LATENCY,
    KIND_SECURITY_BREACH,
    KIND_MALICIOUS_ACTIVITY,
    KIND_UNDER_STAKE,
    KIND_DUPLICATE_HARDWARE,
    KIND_RESOURCE_HOARDING,
)
# The order in which a node-epoch's poor-performance findings are ranked (performance_offence).
PERFORMANCE_KINDS: Final[tuple[str, ...]] = (KIND_DOWNTIME, KIND_ERROR_RATE, KIND_LATENCY)

CLASS_POOR_PERFORMANCE: Final[str] = "poor_performance"
CLASS_SECURITY_BREACH: Final[str] = "security_breach"
CLASS_PROTOCOL_VIOLATION: Final[str] = "protocol_violation"
KIND_CLASS: Final[Mapping[str, str]] = MappingProxyType(
    {
        KIND_DOWNTIME: CLASS_POOR_PERFORMANCE,
        KIND_ERROR_RATE: CLASS_POOR_PERFORMANCE,
        KIND_LATENCY: CLASS_POOR_PERFORMANCE,
        KIND_SECURITY_BREACH: CLASS_SECURITY_BREACH,
        KIND_MALICIOUS_ACTIVITY: CLASS_SECURITY_BREACH,
        KIND_UNDER_STAKE: CLASS_PROTOCOL_VIOLATION,
        KIND_DUPLICATE_HARDWARE: CLASS_PROTOCOL_VIOLATION,
        KIND_RESOURCE_HOARDING: CLASS_PROTOCOL_VIOLATION,
    }
)

SEVERITY_MINOR: Final[str] = "minor"
SEVERITY_MAJOR: Final[str] = "major"
SEVERITY_CRITICAL: Final[str] = "critical"
SECURITY_SEVERITIES: Final[tuple[str, ...]] = (SEVERITY_MINOR, SEVERITY_MAJOR, SEVERITY_CRITICAL)

# Outcomes of the ladder are the rung labels of the parameter set (warning / penalty / severe
# by default); the other classes have these two.
OUTCOME_IMMEDIATE: Final[str] = "immediate"
OUTCOME_SCALED: Final[str] = "scaled"

RECOVERY_AUTOMATIC_UNJAIL: Final[str] = "automatic_unjail"
RECOVERY_SECURITY_REVIEW: Final[str] = "security_review"
RECOVERY_COMPLIANCE_VERIFICATION: Final[str] = "compliance_verification"
RECOVERY_NONE: Final[str] = "none"  # tombstoned: there is no way back

REQUIRES_SECURITY_REVIEW: Final[str] = "security_review"
REQUIRES_GOVERNOR_REVIEW: Final[str] = "governor_review"
REQUIRES_COMPLIANCE_VERIFICATION: Final[str] = "compliance_verification"
# Also the order NodeStanding.unjail_requires reports the first outstanding one in.
UNJAIL_REQUIREMENTS: Final[tuple[str, ...]] = (
    REQUIRES_SECURITY_REVIEW,
    REQUIRES_GOVERNOR_REVIEW,
    REQUIRES_COMPLIANCE_VERIFICATION,
)
_REVIEW_REQUIREMENTS: Final[frozenset[str]] = frozenset(
    {REQUIRES_SECURITY_REVIEW, REQUIRES_GOVERNOR_REVIEW}
)

STATUS_ACTIVE: Final[str] = "active"
STATUS_JAILED: Final[str] = "jailed"
STATUS_TOMBSTONED: Final[str] = "tombstoned"
_STATUSES: Final[tuple[str, ...]] = (STATUS_ACTIVE, STATUS_JAILED, STATUS_TOMBSTONED)

WAIVER_CORRELATED_OUTAGE: Final[str] = "correlated_outage"

# Lifecycle of a slash in the ledger (pending for the appeal window, then executed, or decided).
SLASH_PENDING: Final[str] = "pending"
SLASH_EXECUTED: Final[str] = "executed"
SLASH_UPHELD: Final[str] = "upheld"
SLASH_VOIDED: Final[str] = "voided"
_SLASH_STATUSES: Final[tuple[str, ...]] = (
    SLASH_PENDING,
    SLASH_EXECUTED,
    SLASH_UPHELD,
    SLASH_VOIDED,
)

VOTE_UPHOLD: Final[str] = "uphold"
VOTE_VOID: Final[str] = "void"
APPEAL_UPHELD: Final[str] = "upheld"
APPEAL_VOIDED: Final[str] = "voided"
APPEAL_PENDING: Final[str] = "pending"

# Limits (a limit on everything). Evidence is a digestable summary, not the raw artefacts, which
# live in object storage and are referenced from it by their hash.
# Events kept to undo open penalties; beyond it the oldest open penalty is settled for good.

_VIOLATION_ID_FORMAT: Final[str] = "swarm-violation-v1"
_PENALTY_ID_FORMAT: Final[str] = "swarm-penalty-v1"
_ADDRESS_RE: Final[re.Pattern[str]] = re.compile(r"0x[0-9a-f]{40}")
_KEY_RE: Final[re.Pattern[str]] = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_HOUR_S: Final[int] = 3_600
_DAY_S: Final[int] = 86_400


class SlashingError(InvalidInput, ValueError):
    """Input or a command the slashing domain refuses, with the field named and a stable code.

    Bad input is ``invalid``; a command that the penalty's or appeal's state forbids is raised
    with ``kind=ErrorKind.CONFLICT``."""

    default_code = "invalid_slashing_input"


def _require_int(field: str, value: object, low: int | None = 0, high: int | None = None) -> int:
    # bool is an int subclass and float is what money arithmetic keeps out; both are refused.
    if isinstance(value, bool) or not isinstance(value, int):
        raise SlashingError(
            f"must be an int, not {type(value).__name__}", code="not_an_integer", field=field
        )
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f"{low} .. {high}" if high is not None else f">= {low}"
        raise SlashingError(f"must be {bound}, got {value}", code="out_of_range", field=field)
    return value


def _require_str(field: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise SlashingError("must be a non-empty str", code="not_a_string", field=field)
    return value


def _require_address(field: str, value: object) -> str:
    if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
        raise SlashingError(
            f"must be a lower-case 0x address: {value!r}", code="address_format", field=field
        )
    return value


def _sha256_json(value: object) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _fmt_ppm(ppm: int) -> str:
    """``10_000`` -> ``"1%"``, ``1_000`` -> ``"0.1%"``: exact, integer arithmetic only."""
    whole, frac = divmod(ppm, 10_000)
    frac_text = f"{frac:04d}".rstrip("0")
    return f"{whole}.{frac_text}%" if frac_text else f"{whole}%"


def _fmt_factor(ppm: int) -> str:
    """``500_000`` -> ``"0.5"``, ``1_000_000`` -> ``"1"``: a multiplier, exactly."""
    whole, frac = divmod(ppm, PPM)
    frac_text = f"{frac:06d}".rstrip("0")
    return f"{whole}.{frac_text}" if frac_text else f"{whole}"


def _fmt_duration(seconds: int) -> str:
    if seconds and seconds % _DAY_S == 0:
        return f"{seconds // _DAY_S} d"
    if seconds and seconds % _HOUR_S == 0:
        return f"{seconds // _HOUR_S} h"
    return f"{seconds} s"


# --------------------------------------------------------------------------------------------
# 1. Violations


def canonical_evidence(
    evidence: Mapping[str, str] | Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """Return evidence as ``((key, value), ...)`` sorted by key: the form that is hashed.

    Keys are unique lower-case names (``[a-z0-9][a-z0-9_.-]*``, at most 64 chars), values
    strings of at most 4,096 chars; at least one and at most 64 items. Order of the input does
    not matter, so the same facts reported twice give the same digest.
    """
    items = list(evidence.items()) if isinstance(evidence, Mapping) else list(evidence)
    if not items:
        raise SlashingError(
            "at least one item is required", code="evidence_empty", field="evidence"
        )
    if len(items) > MAX_EVIDENCE_ITEMS:
        raise SlashingError(
            f"at most {MAX_EVIDENCE_ITEMS}", code="evidence_too_large", field="evidence"
        )
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise SlashingError(
                "items are (key, value) pairs", code="evidence_malformed", field="evidence"
            )
        key, value = item
        if (
            not isinstance(key, str)
            or len(key) > MAX_EVIDENCE_KEY_CHARS
            or not _KEY_RE.fullmatch(key)
        ):
            raise SlashingError(f"bad evidence key {key!r}", code="evidence_key", field="evidence")
        if not isinstance(value, str) or len(value) > MAX_EVIDENCE_VALUE_CHARS:
            raise SlashingError(
                f"must be a str of <= {MAX_EVIDENCE_VALUE_CHARS} chars",
                code="evidence_value",
                field=f"evidence.{key}",
            )
        if key in seen:
            raise SlashingError(
                f"duplicate key {key!r}", code="evidence_duplicate_key", field="evidence"
            )
        seen.add(key)
    return tuple(sorted(items))


def evidence_digest(evidence: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """SHA-256 (lower-case hex) of the canonical evidence as compact ASCII JSON pairs."""
    return _sha256_json([[k, v] for k, v in canonical_evidence(evidence)])


def violation_id(kind: str, node_id: str, infraction_epoch: int, digest: str) -> str:
    """The incident id: SHA-256 hex of ``[format, kind, node_id, epoch, evidence digest]``.

    Provider, severity and counts are deliberately not part of it: the same evidence about the
    same node and epoch is the same incident, however it is re-reported (one slash per
    incident). 64 hex chars, so it is also the ``bytes32`` slash id on chain.
    """
    return _sha256_json([_VIOLATION_ID_FORMAT, kind, node_id, infraction_epoch, digest])


@dataclass(frozen=True, slots=True)
class Violation:
    """One finding of the matrix about one node, with its canonical evidence.

    Build it with :func:`make_violation` (or a detector), which derives ``evidence_digest`` and
    ``violation_id``; the constructor re-derives both and refuses a mismatch, so a stored
    violation cannot carry an id its evidence does not give. ``severity`` is set for security
    breaches only, ``duplicate_count`` (>= 1) for duplicate hardware only, ``severity_units``
    (>= 1) for resource hoarding only. ``infraction_at_s`` is when the stake at risk is taken.
    """

    violation_id: str
    node_id: str
    provider_id: str
    kind: str
    klass: str
    infraction_epoch: int
    infraction_at_s: int
    evidence: tuple[tuple[str, str], ...]
    evidence_digest: str
    severity: str | None = None
    duplicate_count: int = 0
    severity_units: int = 0

    def __post_init__(self) -> None:
        _require_str("node_id", self.node_id)
        _require_address("provider_id", self.provider_id)
        if self.kind not in KIND_CLASS:
            raise SlashingError(
                f"{self.kind!r} is not a violation kind", code="unknown_kind", field="kind"
            )
        if self.klass != KIND_CLASS[self.kind]:
            raise SlashingError(
                f"{self.kind} is {KIND_CLASS[self.kind]}", code="wrong_class", field="klass"
            )
        _require_int("infraction_epoch", self.infraction_epoch)
        _require_int("infraction_at_s", self.infraction_at_s)
        if canonical_evidence(self.evidence) != self.evidence:
            raise SlashingError(
                "use canonical_evidence()", code="evidence_not_canonical", field="evidence"
            )
        if self.evidence_digest != evidence_digest(self.evidence):
            raise SlashingError(
                "does not match evidence", code="digest_mismatch", field="evidence_digest"
            )
        expected = violation_id(
            self.kind, self.node_id, self.infraction_epoch, self.evidence_digest
        )
        if self.violation_id != expected:
            raise SlashingError(
                "does not match the evidence", code="id_mismatch", field="violation_id"
            )
        security = self.kind == KIND_SECURITY_BREACH
        if security != (self.severity is not None):
            raise SlashingError(
                "set for security breaches and only them", code="severity", field="severity"
            )
        if security and self.severity not in SECURITY_SEVERITIES:
            raise SlashingError(
                f"one of {', '.join(SECURITY_SEVERITIES)}", code="severity", field="severity"
            )
        sybil = self.kind == KIND_DUPLICATE_HARDWARE
        _require_int(
            "duplicate_count",
            self.duplicate_count,
            1 if sybil else 0,
            MAX_DUPLICATE_COUNT if sybil else 0,
        )
        hoarding = self.kind == KIND_RESOURCE_HOARDING
        _require_int(
            "severity_units",
            self.severity_units,
            1 if hoarding else 0,
            MAX_SEVERITY_UNITS if hoarding else 0,
        )

    @property
    def evidence_dict(self) -> dict[str, str]:
        """The evidence as a plain dict (key order: sorted)."""
        return dict(self.evidence)


def make_violation(
    kind: str,
    *,
    node_id: str,
    provider_id: str,
    infraction_epoch: int,
    infraction_at_s: int,
    evidence: Mapping[str, str] | Iterable[tuple[str, str]],
    severity: str | None = None,
    duplicate_count: int = 0,
    severity_units: int = 0,
) -> Violation:
    """Build a :class:`Violation`, deriving its class, evidence digest and id."""
    if kind not in KIND_CLASS:
        raise SlashingError(f"{kind!r} is not a violation kind", code="unknown_kind", field="kind")
    canonical = canonical_evidence(evidence)
    digest = evidence_digest(canonical)
    _require_str("node_id", node_id)
    _require_int("infraction_epoch", infraction_epoch)
    return Violation(
        violation_id=violation_id(kind, node_id, infraction_epoch, digest),
        node_id=node_id,
        provider_id=provider_id,
        kind=kind,
        klass=KIND_CLASS[kind],
        infraction_epoch=infraction_epoch,
        infraction_at_s=infraction_at_s,
        evidence=canonical,
        evidence_digest=digest,
        severity=severity,
        duplicate_count=duplicate_count,
        severity_units=severity_units,
    )


# --------------------------------------------------------------------------------------------
# 2. Detection


def detect_performance_violations(
    rollup: NodeEpochRollup,
    latency_target_ms: int,
    params: ParameterSet,
    epoch_start_s: int,
    *,
    provider_id: str,
) -> list[Violation]:
    """Poor-performance findings of one node-epoch, in :data:`PERFORMANCE_KINDS` order.

    - downtime: ``uptime_ppm`` (up over *counted* expected heartbeats, so declared maintenance
      is excused) strictly below ``downtime_uptime_threshold_ppm`` (90%); a node entirely in
      maintenance has nothing counted and is not down;
    - error rate: failed over all jobs strictly above ``error_rate_threshold_ppm`` (10%); a node
      that ran no job has no error rate;
    - latency: p50 strictly above ``latency_threshold_multiple_ppm`` (5x) times the type's
      target, compared as ``p50 x 1e6 > target x multiple`` so nothing is rounded; a node with no
      latency received is judged by downtime instead.

    The infraction time is ``epoch_start_s``: stake at risk is the stake that backed the node for
    the whole epoch. Evidence holds the epoch, the figures and the threshold as decimal strings,
    so evaluating the same rollup again (a retried worker) gives the same violation id.
    """
    slashing = params.slashing
    _require_int("latency_target_ms", latency_target_ms, 1)
    _require_int("epoch_start_s", epoch_start_s)
    found: list[Violation] = []

    def add(kind: str, evidence: dict[str, str]) -> None:
        found.append(
            make_violation(
                kind,
                node_id=rollup.node_id,
                provider_id=provider_id,
                infraction_epoch=rollup.epoch,
                infraction_at_s=epoch_start_s,
                evidence={"epoch": str(rollup.epoch)} | evidence,
            )
        )

    uptime_ppm = rollup.uptime_ppm
    if rollup.counted_expected > 0 and uptime_ppm < slashing.downtime_uptime_threshold_ppm:
        add(
            KIND_DOWNTIME,
            {
                "heartbeats_expected": str(rollup.heartbeats_expected),
                "heartbeats_excused": str(rollup.heartbeats_excused),
                "heartbeats_counted": str(rollup.counted_expected),
                "heartbeats_up": str(rollup.heartbeats_up),
                "uptime_ppm": str(uptime_ppm),
                "threshold_ppm": str(slashing.downtime_uptime_threshold_ppm),
            },
        )
    error_rate_ppm = rollup.error_rate_ppm
    if error_rate_ppm is not None and error_rate_ppm > slashing.error_rate_threshold_ppm:
        add(
            KIND_ERROR_RATE,
            {
                "jobs_ok": str(rollup.jobs_ok),
                "jobs_failed": str(rollup.jobs_failed),
                "error_rate_ppm": str(error_rate_ppm),
                "threshold_ppm": str(slashing.error_rate_threshold_ppm),
            },
        )
    p50 = rollup.latency_p50_ms
    multiple = slashing.latency_threshold_multiple_ppm
    if p50 is not None and p50 * PPM > latency_target_ms * multiple:
        add(
            KIND_LATENCY,
            {
                "latency_p50_ms": str(p50),
                "latency_target_ms": str(latency_target_ms),
                "threshold_multiple_ppm": str(multiple),
            },
        )
    return found


def performance_offence(violations: Sequence[Violation]) -> Violation | None:
    """The one poor-performance finding of a node-epoch that goes on the ladder, or None.

    A node that was down *and* slow in one epoch committed one offence, not two: the first
    finding in :data:`PERFORMANCE_KINDS` order (downtime, error rate, latency) is penalised and
    the others stay on record with it. Pass the findings left after waivers; mixing nodes or
    epochs is refused. Other classes are ignored here.
    """
    perf = [v for v in violations if v.klass == CLASS_POOR_PERFORMANCE]
    if not perf:
        return None
    if len({(v.node_id, v.infraction_epoch) for v in perf}) != 1:
        raise SlashingError(
            "one node and epoch at a time", code="mixed_node_epochs", field="violations"
        )
    return min(perf, key=lambda v: (PERFORMANCE_KINDS.index(v.kind), v.violation_id))


def detect_sybil(
    fingerprints: Mapping[str, str],
    *,
    registered_at_s: Mapping[str, int],
    provider_of: Mapping[str, str],
    params: ParameterSet,
) -> list[Violation]:
    """Duplicate hardware identities: one violation per duplicate node.

    Nodes sharing a fingerprint form a group. The **original** is the earliest registered node
    of the group (ties: the smallest node id); every other node is a duplicate, whoever its
    provider is, and is charged ``duplicate_count = 1`` (5% of its provider's stake at risk). The
    infraction is the duplicate's registration (``registered_at_s``, epoch
    ``registered_at_s // epoch_length_s``, rounded down), so detecting it again next epoch gives
    the same id and is not a second incident. Output is ordered by fingerprint, then node id.
    """
    if len(fingerprints) > MAX_SYBIL_NODES:
        raise SlashingError(
            f"at most {MAX_SYBIL_NODES} nodes", code="too_many_nodes", field="fingerprints"
        )
    groups: dict[str, list[str]] = {}
    for node_id, fingerprint in fingerprints.items():
        _require_str("fingerprints", node_id)
        groups.setdefault(_require_str(f"fingerprints[{node_id}]", fingerprint), []).append(node_id)
    epoch_length_s = params.epoch.epoch_length_s
    found: list[Violation] = []
    for fingerprint in sorted(groups):
        members = groups[fingerprint]
        if len(members) < 2:
            continue
        for node_id in members:
            if node_id not in registered_at_s or node_id not in provider_of:
                raise SlashingError(
                    f"no registration for node {node_id!r}",
                    code="unknown_node",
                    field="registered_at_s",
                )
            _require_int(f"registered_at_s[{node_id}]", registered_at_s[node_id])
        ordered = sorted(members, key=lambda n: (registered_at_s[n], n))
        original = ordered[0]
        for dup in sorted(ordered[1:]):
            at_s = registered_at_s[dup]
            found.append(
                make_violation(
                    KIND_DUPLICATE_HARDWARE,
                    node_id=dup,
                    provider_id=provider_of[dup],
                    # Floor division: the epoch that contains the registration second.
                    infraction_epoch=at_s // epoch_length_s,
                    infraction_at_s=at_s,
                    evidence={
                        "fingerprint": fingerprint,
                        "original_node_id": original,
                        "original_registered_at_s": str(registered_at_s[original]),
                        "duplicate_node_id": dup,
                        "duplicate_registered_at_s": str(at_s),
                        "group_size": str(len(members)),
                    },
                    duplicate_count=1,
                )
            )
    return found


# --------------------------------------------------------------------------------------------
# 3. Correlated outages


@dataclass(frozen=True, slots=True)
class Waiver:
    """A violation waived as part of a network incident, with the counts that justify it."""

    violation: Violation
    reason: str
    region: str
    down_count: int
    active_count: int
    threshold_ppm: int

    @property
    def evidence(self) -> tuple[tuple[str, str], ...]:
        """The waiver's own evidence (sorted pairs): the region's counts and the threshold."""
        return canonical_evidence(
            {
                "reason": self.reason,
                "region": self.region,
                "epoch": str(self.violation.infraction_epoch),
                "down_count": str(self.down_count),
                "active_count": str(self.active_count),
                "threshold_ppm": str(self.threshold_ppm),
            }
        )


def _region_down_counts(
    region_of: Mapping[str, str],
    downtime_node_ids: Iterable[str],
    active_counts_by_region: Mapping[str, int],
) -> dict[str, int]:
    down: dict[str, int] = {}
    for node_id in set(downtime_node_ids):
        if node_id not in region_of:
            raise SlashingError(
                f"no region for node {node_id!r}", code="unknown_node", field="region_of"
            )
        region = region_of[node_id]
        down[region] = down.get(region, 0) + 1
    for region, count in down.items():
        active = _require_int(
            f"active_counts_by_region[{region}]", active_counts_by_region.get(region, 0)
        )
        if count > active:
            raise SlashingError(
                f"{count} nodes down but only {active} active",
                code="fewer_active_than_down",
                field=f"active_counts_by_region[{region}]",
            )
    return down


def correlated_outage_regions(
    region_of: Mapping[str, str],
    downtime_node_ids: Iterable[str],
    active_counts_by_region: Mapping[str, int],
    params: ParameterSet,
    *,
    probe_confirmed_regions: AbstractSet[str] | None = None,
) -> set[str]:
    """Regions of one epoch where strictly more than 20% of the active nodes were down.

    ``down x 1e6 > threshold_ppm x active`` (no division, so exactly 20% is *not* an outage).
    SPEC 6 also wants independent probes to agree: given ``probe_confirmed_regions``, only those
    regions qualify; ``None`` means the caller has no probe data and the count alone decides.
    """
    threshold_ppm = params.slashing.correlated_outage_threshold_ppm
    down = _region_down_counts(region_of, downtime_node_ids, active_counts_by_region)
    return {
        region
        for region, count in down.items()
        if count * PPM > threshold_ppm * active_counts_by_region[region]
        and (probe_confirmed_regions is None or region in probe_confirmed_regions)
    }


def waive_correlated_outages(
    violations: Sequence[Violation],
    region_of: Mapping[str, str],
    active_counts_by_region: Mapping[str, int],
    params: ParameterSet,
    *,
    probe_confirmed_regions: AbstractSet[str] | None = None,
) -> tuple[list[Violation], list[Waiver]]:
    """Split one epoch's findings into those that stand and the waived downtime ones.

    Only ``downtime`` is ever waived: error rate and latency are the node's own, and security,
    malicious and protocol violations are never excused by a network incident. All downtime
    findings must be of one epoch (the active counts are that epoch's). Order is preserved.
    """
    downtime = [v for v in violations if v.kind == KIND_DOWNTIME]
    if len({v.infraction_epoch for v in downtime}) > 1:
        raise SlashingError(
            "downtime of one epoch at a time", code="mixed_epochs", field="violations"
        )
    regions = correlated_outage_regions(
        region_of,
        (v.node_id for v in downtime),
        active_counts_by_region,
        params,
        probe_confirmed_regions=probe_confirmed_regions,
    )
    down = _region_down_counts(region_of, (v.node_id for v in downtime), active_counts_by_region)
    kept: list[Violation] = []
    waived: list[Waiver] = []
    for v in violations:
        region = region_of.get(v.node_id)
        if v.kind == KIND_DOWNTIME and region in regions:
            assert region is not None  # in regions implies a known region
            waived.append(
                Waiver(
                    violation=v,
                    reason=WAIVER_CORRELATED_OUTAGE,
                    region=region,
                    down_count=down[region],
                    active_count=active_counts_by_region[region],
                    threshold_ppm=params.slashing.correlated_outage_threshold_ppm,
                )
            )
        else:
            kept.append(v)
    return kept, waived


# --------------------------------------------------------------------------------------------
# 4. The graduated ladder


def count_offences(history: Iterable[tuple[int, bool]], now_s: int, window_s: int) -> int:
    """Counted offences of one node in the rolling window ``(now_s - window_s, now_s]``.

    ``history`` is ``(at_s, counted)`` per past offence (its infraction time); ``counted`` is
    False for waived or voided ones, which never climb the ladder. An offence exactly
    ``window_s`` old has left the window; one after ``now_s`` is ignored (recomputing the past).
    """
    _require_int("now_s", now_s)
    _require_int("window_s", window_s, 1)
    count = 0
    for i, (at_s, counted) in enumerate(history):
        if i >= MAX_OFFENCE_HISTORY:
            raise SlashingError(
                f"at most {MAX_OFFENCE_HISTORY} entries", code="too_long", field="history"
            )
        if counted and now_s - window_s < _require_int("history.at_s", at_s) <= now_s:
            count += 1
    return count


def ladder_step(prior_offences_in_window: int, params: ParameterSet) -> LadderStep:
    """The rung for an offence with ``prior_offences_in_window`` earlier ones in the window.

    The first offence (0 prior) is rung 1; the last rung applies to every later offence.
    """
    _require_int("prior_offences_in_window", prior_offences_in_window)
    return params.slashing.ladder_step(prior_offences_in_window + 1)


# --------------------------------------------------------------------------------------------
# 5. Penalties


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
    _require_int("amount_base_units", amount_base_units)
    s = params.slashing
    treasury = mul_div(amount_base_units, s.split_treasury_ppm, PPM, Rounding.DOWN)
    burn = mul_div(amount_base_units, s.split_burn_ppm, PPM, Rounding.DOWN)
    return SlashSplit(
        amount_base_units=amount_base_units,
        insurance_base_units=amount_base_units - treasury - burn,
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
    kind: str
    klass: str
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
    unjail_requirements: tuple[str, ...]
    tombstone: bool
    governor_review_required: bool
    recovery_path: str
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


def _penalty_id(violation_id_: str) -> str:
    return _sha256_json([_PENALTY_ID_FORMAT, violation_id_])


def under_stake_grace_ends_at_s(first_seen_under_stake_at_s: int, params: ParameterSet) -> int:
    """When the under-stake grace ends: first seen under stake + ``under_stake_grace_s`` (24 h)."""
    _require_int("first_seen_under_stake_at_s", first_seen_under_stake_at_s)
    return first_seen_under_stake_at_s + params.slashing.under_stake_grace_s


def under_stake_rewards_eligible(
    first_seen_under_stake_at_s: int | None, now_s: int, params: ParameterSet
) -> bool:
    """Whether an under-staked node still earns at ``now_s``: during the grace only.

    The grace is the half-open interval ``[first_seen, first_seen + 24 h)``: at exactly 24 h the
    node earns nothing until it is compliant again. ``None`` (not under stake) is eligible.
    """
    _require_int("now_s", now_s)
    if first_seen_under_stake_at_s is None:
        return True
    return now_s < under_stake_grace_ends_at_s(first_seen_under_stake_at_s, params)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Decision:
    """One matrix row applied: the parts of a Penalty that do not depend on amounts."""

    outcome: str
    recovery: str
    rule: str
    offence_number: int = 0
    fraction_ppm: int = 0
    reward_multiplier_ppm: int = PPM
    rewards_eligible: bool = True
    jail: bool = False
    jail_s: int = 0
    requirements: tuple[str, ...] = ()
    tombstone: bool = False
    review: bool = False


def _security_recovery_text(tombstone: bool) -> str:
    if tombstone:
        return "; no recovery (tombstoned)"
    return "; recovery: security review by a governor quorum"


def _security_decision(offence_number: int, fraction_ppm: int, tomb: bool, rule: str) -> _Decision:
    """Security breach and malicious activity: jail now (until a review), or tombstone."""
    return _Decision(
        outcome=OUTCOME_IMMEDIATE,
        offence_number=offence_number,
        fraction_ppm=fraction_ppm,
        jail=True,
        requirements=() if tomb else (REQUIRES_SECURITY_REVIEW,),
        tombstone=tomb,
        review=not tomb,
        recovery=RECOVERY_NONE if tomb else RECOVERY_SECURITY_REVIEW,
        rule=rule,
    )


def _decide_row(
    v: Violation,
    *,
    decided_at_s: int,
    prior_perf: int,
    prior_malicious: int,
    params: ParameterSet,
) -> _Decision:
    s = params.slashing
    if v.klass == CLASS_POOR_PERFORMANCE:
        step = ladder_step(prior_perf, params)
        offence = prior_perf + 1
        requirements = (REQUIRES_GOVERNOR_REVIEW,) if step.governor_review_required else ()
        jail = step.jail_s > 0 or step.governor_review_required
        rule = (
            f"poor performance ({v.kind}): offence {offence} in the rolling "
            f"{_fmt_duration(s.offence_window_s)} window, ladder rung {step.offence_number} "
            f"'{step.label}': epoch reward x{_fmt_factor(step.reward_multiplier_ppm)}, slash "
            f"{_fmt_ppm(step.stake_slash_ppm)} of the stake at risk"
            + (f", jail {_fmt_duration(step.jail_s)}" if step.jail_s else ", no jail")
            + (", governor review before unjail" if step.governor_review_required else "")
            + "; recovery: automatic unjail, graduated standing restoration"
        )
        return _Decision(
            outcome=step.label,
            offence_number=offence,
            fraction_ppm=step.stake_slash_ppm,
            reward_multiplier_ppm=step.reward_multiplier_ppm,
            jail=jail,
            jail_s=step.jail_s,
            requirements=requirements,
            review=step.governor_review_required,
            recovery=RECOVERY_AUTOMATIC_UNJAIL,
            rule=rule,
        )
    if v.kind == KIND_SECURITY_BREACH:
        fraction = {
            SEVERITY_MINOR: s.security_minor_slash_ppm,
            SEVERITY_MAJOR: s.security_major_slash_ppm,
            SEVERITY_CRITICAL: s.security_critical_slash_ppm,
        }[str(v.severity)]
        tomb = v.severity == SEVERITY_CRITICAL and s.security_critical_tombstone
        rule = (
            f"security breach ({v.severity}): jail now, slash {_fmt_ppm(fraction)} of the stake "
            "at risk" + (", tombstone" if tomb else "") + _security_recovery_text(tomb)
        )
        return _security_decision(0, fraction, tomb, rule)
    if v.kind == KIND_MALICIOUS_ACTIVITY:
        fraction = s.malicious_slash_ppm
        tomb = prior_malicious >= 1 and s.malicious_tombstone_on_repeat
        rule = (
            f"malicious activity (offence {prior_malicious + 1}): jail now, slash "
            f"{_fmt_ppm(fraction)} of the stake at risk"
            + (", tombstone on repeat" if tomb else "")
            + _security_recovery_text(tomb)
        )
        return _security_decision(prior_malicious + 1, fraction, tomb, rule)
    if v.kind == KIND_UNDER_STAKE:
        # The violation's infraction time is when the node was first seen under stake.
        grace_end = under_stake_grace_ends_at_s(v.infraction_at_s, params)
        eligible = decided_at_s < grace_end
        rule = (
            "under-stake: no slash; "
            + (
                f"rewards continue during the {_fmt_duration(s.under_stake_grace_s)} grace "
                f"(until {grace_end})"
                if eligible
                else f"zero rewards until compliant (grace ended at {grace_end})"
            )
            + "; recovery: compliance verification (bond the required stake)"
        )
        return _Decision(
            outcome=OUTCOME_SCALED,
            reward_multiplier_ppm=PPM if eligible else 0,
            rewards_eligible=eligible,
            recovery=RECOVERY_COMPLIANCE_VERIFICATION,
            rule=rule,
        )
    if v.kind == KIND_DUPLICATE_HARDWARE:
        raw = v.duplicate_count * s.sybil_slash_per_duplicate_ppm
        fraction = min(raw, s.sybil_slash_max_ppm)
        rule = (
            f"duplicate hardware identity: {v.duplicate_count} duplicate node(s) x "
            f"{_fmt_ppm(s.sybil_slash_per_duplicate_ppm)} = {_fmt_ppm(raw)}, capped at "
            f"{_fmt_ppm(s.sybil_slash_max_ppm)} -> slash {_fmt_ppm(fraction)} of the stake at "
            "risk; jail until compliance verified; recovery: compliance verification"
        )
        return _Decision(
            outcome=OUTCOME_SCALED,
            fraction_ppm=fraction,
            jail=True,
            requirements=(REQUIRES_COMPLIANCE_VERIFICATION,),
            recovery=RECOVERY_COMPLIANCE_VERIFICATION,
            rule=rule,
        )
    # resource hoarding (the last kind; Violation validated it)
    raw = v.severity_units * s.hoarding_slash_per_severity_unit_ppm
    fraction = min(raw, s.hoarding_slash_max_ppm)
    rule = (
        f"resource hoarding: {v.severity_units} severity unit(s) x "
        f"{_fmt_ppm(s.hoarding_slash_per_severity_unit_ppm)} = {_fmt_ppm(raw)}, max "
        f"{_fmt_ppm(s.hoarding_slash_max_ppm)} -> slash {_fmt_ppm(fraction)} of the stake at "
        "risk; no jail; recovery: compliance verification"
    )
    return _Decision(
        outcome=OUTCOME_SCALED,
        fraction_ppm=fraction,
        recovery=RECOVERY_COMPLIANCE_VERIFICATION,
        rule=rule,
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
    _require_int("decided_at_s", decided_at_s)
    prior_perf = _require_int(
        "prior_poor_performance_offences_in_window", prior_poor_performance_offences_in_window
    )
    prior_malicious = _require_int("prior_malicious_count", prior_malicious_count)
    stake = _require_int("stake_at_risk_base_units", stake_at_risk_base_units)
    unclaimed = _require_int("unclaimed_rewards_base_units", unclaimed_rewards_base_units)
    epoch_reward = _require_int("epoch_reward_base_units", epoch_reward_base_units)
    if decided_at_s < violation.infraction_at_s:
        raise SlashingError(
            "must not precede the infraction", code="before_infraction", field="decided_at_s"
        )

    d = _decide_row(
        violation,
        decided_at_s=decided_at_s,
        prior_perf=prior_perf,
        prior_malicious=prior_malicious,
        params=params,
    )
    # Round down: the provider never pays a base unit more than the fraction says, and a
    # fraction <= 100% keeps the slash within the stake at risk.
    slash = mul_div(stake, d.fraction_ppm, PPM, Rounding.DOWN)
    from_rewards = min(slash, unclaimed)
    from_stake = slash - from_rewards
    split = split_slashed(slash, params)
    # The kept reward rounds down like every reward; what is withheld is the exact rest.
    kept = mul_div(epoch_reward, d.reward_multiplier_ppm, PPM, Rounding.DOWN)
    withheld = epoch_reward - kept
    jail_until = decided_at_s + d.jail_s if d.jail and d.jail_s > 0 else None
    rule = "; ".join(
        (
            f"{d.rule}. Stake at risk {stake} ({format_swarm(stake)} SWARM) x "
            f"{d.fraction_ppm} ppm / 1e6 = {slash} base units ({format_swarm(slash)} SWARM, "
            "rounded down)",
            f"rewards first: {from_rewards} from unclaimed rewards, {from_stake} from stake",
            f"split insurance {split.insurance_base_units} / treasury "
            f"{split.treasury_base_units} / burn {split.burn_base_units} (floors, remainder to "
            "insurance)",
            f"epoch reward {epoch_reward} -> withheld {withheld}",
            f"parameter set v{params.version}",
        )
    )
    return Penalty(
        penalty_id=_penalty_id(violation.violation_id),
        violation_id=violation.violation_id,
        node_id=violation.node_id,
        provider_id=violation.provider_id,
        kind=violation.kind,
        klass=violation.klass,
        infraction_epoch=violation.infraction_epoch,
        infraction_at_s=violation.infraction_at_s,
        decided_at_s=decided_at_s,
        params_version=params.version,
        outcome=d.outcome,
        offence_number=d.offence_number,
        slash_fraction_ppm=d.fraction_ppm,
        stake_at_risk_base_units=stake,
        slash_base_units=slash,
        from_rewards_base_units=from_rewards,
        from_stake_base_units=from_stake,
        reward_multiplier_ppm=d.reward_multiplier_ppm,
        epoch_reward_base_units=epoch_reward,
        reward_withheld_base_units=withheld,
        rewards_eligible=d.rewards_eligible,
        jail=d.jail,
        jail_s=d.jail_s,
        jail_until_s=jail_until,
        unjail_requirements=d.requirements,
        tombstone=d.tombstone,
        governor_review_required=d.review,
        recovery_path=d.recovery,
        appeal_deadline_s=decided_at_s + params.slashing.appeal_window_s,
        insurance_base_units=split.insurance_base_units,
        treasury_base_units=split.treasury_base_units,
        burn_base_units=split.burn_base_units,
        rule=rule,
    )


# --------------------------------------------------------------------------------------------
# 6. Standing: a small state machine per node


@dataclass(frozen=True, slots=True)
class StandingSnapshot:
    """The observable standing of a node (what :class:`NodeStanding` shows, without history).

    ``standing_ppm`` is the reward multiplier for the next epoch closed: 1e6 in good standing,
    ``1e6 - slash fraction`` after a penalty without jail, 0 while jailed or tombstoned, and the
    restoration steps (0.25 / 0.5 / 0.75 / 1.0) after a jail. ``restoration_step`` is the
    1-based index of the step the standing sits on below good standing, 0 otherwise.
    """

    status: str
    jailed_until_s: int | None
    unjail_requirements: tuple[str, ...]
    restoration_step: int
    standing_ppm: int


_GOOD: Final[StandingSnapshot] = StandingSnapshot(STATUS_ACTIVE, None, (), 0, PPM)
_EVENT_PENALTY: Final[str] = "penalty_applied"
_EVENT_TICK: Final[str] = "epoch_ticked"
_EVENT_REVIEW: Final[str] = "review_approved"
_EVENT_COMPLIANCE: Final[str] = "compliance_passed"


@dataclass(frozen=True, slots=True)
class StandingEvent:
    """One transition of a node's standing, kept while a penalty can still be voided.

    ``restoration_steps_ppm`` is the parameter set's steps at the time, so a replay gives the
    same result even after governance changed them.
    """

    kind: str
    at_s: int
    penalty: Penalty | None = None
    epoch_clean: bool = False
    restoration_steps_ppm: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeStanding:
    """A node's slashing state: active / jailed / tombstoned, unjail needs, standing multiplier.

    ``jailed_until_s`` is the time bound of a jail (None: none, or only checks to pass);
    ``unjail_requirements`` the checks still outstanding (``security_review``,
    ``governor_review``, ``compliance_verification``). A jailed node is released by
    :func:`tick_epoch`, :func:`approve_review` or :func:`compliance_passed` once the time has
    passed *and* no requirement is left; it comes back at the first restoration step.
    Tombstoned is final.

    While a penalty is open (appealable, :func:`settle_penalty` not yet called), ``base`` is
    the snapshot before the oldest open penalty and ``log`` every transition since, so
    :func:`void_penalty` can replay the node's history without the voided penalty.
    """

    node_id: str
    status: str = STATUS_ACTIVE
    jailed_until_s: int | None = None
    unjail_requirements: tuple[str, ...] = ()
    restoration_step: int = 0
    standing_ppm: int = PPM
    open_penalty_ids: tuple[str, ...] = ()
    base: StandingSnapshot | None = None
    log: tuple[StandingEvent, ...] = ()

    def __post_init__(self) -> None:
        _require_str("node_id", self.node_id)
        if self.status not in _STATUSES:
            raise SlashingError(
                f"one of {', '.join(_STATUSES)}", code="unknown_status", field="status"
            )
        for req in self.unjail_requirements:
            if req not in UNJAIL_REQUIREMENTS:
                raise SlashingError(
                    repr(req), code="unknown_requirement", field="unjail_requirements"
                )
        _require_int("standing_ppm", self.standing_ppm, 0, PPM)
        _require_int("restoration_step", self.restoration_step)
        if (self.base is None) != (not self.open_penalty_ids):
            raise SlashingError(
                "base is kept iff penalties open", code="inconsistent_history", field="base"
            )

    @property
    def snapshot(self) -> StandingSnapshot:
        """The observable state without the undo history."""
        return StandingSnapshot(
            self.status,
            self.jailed_until_s,
            self.unjail_requirements,
            self.restoration_step,
            self.standing_ppm,
        )

    @property
    def unjail_requires(self) -> str | None:
        """The first outstanding unjail requirement (security, governor, compliance), or None."""
        for req in UNJAIL_REQUIREMENTS:
            if req in self.unjail_requirements:
                return req
        return None

    @property
    def jailed(self) -> bool:
        """Whether the node is jailed now (rewards: ineligible, ``jailed``)."""
        return self.status == STATUS_JAILED

    @property
    def tombstoned(self) -> bool:
        """Whether the node is tombstoned (rewards: ineligible, ``tombstoned``), for good."""
        return self.status == STATUS_TOMBSTONED


def new_standing(node_id: str) -> NodeStanding:
    """A node in good standing with no history."""
    return NodeStanding(node_id=node_id)


def _next_step(standing_ppm: int, steps: tuple[int, ...]) -> tuple[int, int]:
    """(standing, restoration_step) one clean epoch later: the first step above the standing."""
    for i, step in enumerate(steps):
        if step > standing_ppm:
            return step, (i + 1 if i + 1 < len(steps) else 0)
    return standing_ppm, 0


def standing_after_epoch(standing_ppm: int, clean: bool, params: ParameterSet) -> int:
    """Standing of an active node after an epoch: a clean one climbs to the next step above.

    With the default steps 0.25 / 0.5 / 0.75 / 1.0: a node released from jail at 0.25 is back to
    1.0 after three clean epochs (its four epochs back earn x0.25, x0.5, x0.75, x1.0). A penalty
    standing between steps (e.g. 0.999 after a 0.1% slash) climbs to the next step above it.
    An epoch that is not clean holds the standing where it is.
    """
    _require_int("standing_ppm", standing_ppm, 0, PPM)
    if not clean:
        return standing_ppm
    return _next_step(standing_ppm, params.multipliers.standing_restoration_steps_ppm)[0]


def _release_if_due(core: StandingSnapshot, now_s: int, steps: tuple[int, ...]) -> StandingSnapshot:
    if core.status != STATUS_JAILED or core.unjail_requirements:
        return core
    if core.jailed_until_s is not None and now_s < core.jailed_until_s:
        return core
    first = steps[0]
    return StandingSnapshot(STATUS_ACTIVE, None, (), 1 if len(steps) > 1 else 0, first)


def _core_apply(core: StandingSnapshot, penalty: Penalty) -> StandingSnapshot:
    if core.status == STATUS_TOMBSTONED:
        return core
    if penalty.tombstone:
        return StandingSnapshot(STATUS_TOMBSTONED, None, (), 0, 0)
    if penalty.jail:
        bounds = [b for b in (penalty.jail_until_s,) if b is not None]
        reqs = set(penalty.unjail_requirements)
        if core.status == STATUS_JAILED:
            if core.jailed_until_s is not None:
                bounds.append(core.jailed_until_s)
            reqs |= set(core.unjail_requirements)
        ordered = tuple(r for r in UNJAIL_REQUIREMENTS if r in reqs)
        return StandingSnapshot(STATUS_JAILED, max(bounds) if bounds else None, ordered, 0, 0)
    if penalty.slash_fraction_ppm > 0 and core.status == STATUS_ACTIVE:
        lowered = PPM - penalty.slash_fraction_ppm
        if lowered < core.standing_ppm:
            return replace(core, standing_ppm=lowered, restoration_step=0)
    return core


def _core_step(core: StandingSnapshot, event: StandingEvent) -> StandingSnapshot:
    if event.kind == _EVENT_PENALTY:
        assert event.penalty is not None
        return _core_apply(core, event.penalty)
    steps = event.restoration_steps_ppm
    if event.kind == _EVENT_TICK:
        if core.status == STATUS_JAILED:
            # The release epoch is not a clean epoch served: no climb on the way out.
            return _release_if_due(core, event.at_s, steps)
        if core.status == STATUS_ACTIVE and event.epoch_clean:
            standing, step = _next_step(core.standing_ppm, steps)
            return replace(core, standing_ppm=standing, restoration_step=step)
        return core
    if event.kind == _EVENT_REVIEW:
        removed: AbstractSet[str] = _REVIEW_REQUIREMENTS
    else:
        removed = {REQUIRES_COMPLIANCE_VERIFICATION}
    if core.status != STATUS_JAILED:
        return core
    left = tuple(r for r in core.unjail_requirements if r not in removed)
    return _release_if_due(replace(core, unjail_requirements=left), event.at_s, steps)


def _replay(base: StandingSnapshot, events: Iterable[StandingEvent]) -> StandingSnapshot:
    core = base
    for event in events:
        core = _core_step(core, event)
    return core


def _with_core(
    state: NodeStanding,
    core: StandingSnapshot,
    *,
    base: StandingSnapshot | None,
    log: tuple[StandingEvent, ...],
    open_penalty_ids: tuple[str, ...],
) -> NodeStanding:
    return NodeStanding(
        node_id=state.node_id,
        status=core.status,
        jailed_until_s=core.jailed_until_s,
        unjail_requirements=core.unjail_requirements,
        restoration_step=core.restoration_step,
        standing_ppm=core.standing_ppm,
        open_penalty_ids=open_penalty_ids,
        base=base,
        log=log,
    )


def _normalize(
    state: NodeStanding,
    core: StandingSnapshot,
    log: tuple[StandingEvent, ...],
    open_ids: tuple[str, ...],
) -> NodeStanding:
    """The state with ``core`` and ``open_ids``, ``base`` and ``log`` trimmed to what the open
    penalties need: the log prefix before the oldest open penalty is folded into ``base``, and
    both are dropped when nothing is open."""
    if not open_ids:
        return _with_core(state, core, base=None, log=(), open_penalty_ids=())
    assert state.base is not None
    oldest = open_ids[0]
    cut = next(
        i
        for i, e in enumerate(log)
        if e.kind == _EVENT_PENALTY and e.penalty is not None and e.penalty.penalty_id == oldest
    )
    base = _replay(state.base, log[:cut]) if cut else state.base
    return _with_core(state, core, base=base, log=log[cut:], open_penalty_ids=open_ids)


def _record(state: NodeStanding, event: StandingEvent, opens: str | None) -> NodeStanding:
    core = _core_step(state.snapshot, event)
    if opens is None and not state.open_penalty_ids:
        return _with_core(state, core, base=None, log=(), open_penalty_ids=())
    if not state.open_penalty_ids:
        assert opens is not None
        new = _with_core(state, core, base=state.snapshot, log=(event,), open_penalty_ids=(opens,))
    else:
        ids = state.open_penalty_ids + ((opens,) if opens is not None else ())
        new = _with_core(
            state, core, base=state.base, log=(*state.log, event), open_penalty_ids=ids
        )
    while len(new.log) > MAX_STANDING_LOG_EVENTS and new.open_penalty_ids:
        # Too much history: the oldest open penalty is settled for good (no longer voidable
        # here); the ledger can still reverse its money.
        new = _normalize(new, new.snapshot, new.log, new.open_penalty_ids[1:])
    return new


def _steps(params: ParameterSet) -> tuple[int, ...]:
    return params.multipliers.standing_restoration_steps_ppm


def apply_penalty(state: NodeStanding, penalty: Penalty, now_s: int) -> NodeStanding:
    """Apply ``penalty`` to the node's standing at ``now_s``.

    Tombstone: final. Jail: status jailed, standing 0; a jail on a jailed node keeps the later
    time bound and every requirement of both. A slash without jail lowers the standing to
    ``1e6 - fraction`` (never raises it). Warnings and under-stake change nothing here (the
    under-stake rewards rule is :func:`under_stake_rewards_eligible`). Applying the same
    penalty id twice while it is open is a no-op (one slash per incident).
    """
    _require_int("now_s", now_s)
    if penalty.node_id != state.node_id:
        raise SlashingError(
            f"not node {state.node_id!r}", code="wrong_node", field="penalty.node_id"
        )
    if not penalty.affects_standing:
        return state
    if any(e.penalty is not None and e.penalty.penalty_id == penalty.penalty_id for e in state.log):
        return state
    event = StandingEvent(kind=_EVENT_PENALTY, at_s=now_s, penalty=penalty)
    return _record(state, event, penalty.penalty_id)


def tick_epoch(
    state: NodeStanding, epoch_clean: bool, now_s: int, params: ParameterSet
) -> NodeStanding:
    """Close an epoch for the node at ``now_s`` (after its rewards used the current standing).

    A jailed node is released when its time has passed and nothing is required (poor
    performance: automatic unjail) and comes back at the first restoration step; an active node
    climbs one step after a clean epoch (:func:`standing_after_epoch`) and holds otherwise.
    ``epoch_clean`` means no counted violation of the node in the epoch.
    """
    _require_int("now_s", now_s)
    if not isinstance(epoch_clean, bool):
        raise SlashingError("must be a bool", code="not_a_bool", field="epoch_clean")
    event = StandingEvent(
        kind=_EVENT_TICK, at_s=now_s, epoch_clean=epoch_clean, restoration_steps_ppm=_steps(params)
    )
    return _record(state, event, None)


def approve_review(state: NodeStanding, now_s: int, params: ParameterSet) -> NodeStanding:
    """A governor quorum approved the node's review (security review or severe-rung review).

    Clears ``security_review`` and ``governor_review``; releases at once if the time bound has
    passed and no compliance check is outstanding. No effect on an active or tombstoned node.
    """
    _require_int("now_s", now_s)
    event = StandingEvent(kind=_EVENT_REVIEW, at_s=now_s, restoration_steps_ppm=_steps(params))
    return _record(state, event, None)


def compliance_passed(state: NodeStanding, now_s: int, params: ParameterSet) -> NodeStanding:
    """The node passed its compliance verification (e.g. unique hardware, stake bonded).

    Clears ``compliance_verification``; releases at once if nothing else is outstanding.
    """
    _require_int("now_s", now_s)
    event = StandingEvent(kind=_EVENT_COMPLIANCE, at_s=now_s, restoration_steps_ppm=_steps(params))
    return _record(state, event, None)


def void_penalty(state: NodeStanding, penalty: Penalty, now_s: int) -> NodeStanding:
    """Undo an open ``penalty`` (its appeal was voided) as if it had never been applied.

    The node's transitions since the oldest open penalty are replayed without it: its jail is
    lifted, its tombstone removed and its standing restored, while every other penalty, epoch
    tick, review and compliance check is kept, in order. What this cannot undo: the epochs the
    node spent jailed (time; the ledger's reversing entries restore the lost rewards and the
    slashed funds) and a penalty already settled (:func:`settle_penalty`), which raises
    ``penalty_not_open``. A penalty that never affected standing (a warning) is a no-op. The
    caller also marks the offence not counted in the ladder history (:func:`count_offences`).
    """
    _require_int("now_s", now_s)
    if penalty.node_id != state.node_id:
        raise SlashingError(
            f"not node {state.node_id!r}", code="wrong_node", field="penalty.node_id"
        )
    if penalty.penalty_id not in state.open_penalty_ids:
        if not penalty.affects_standing:
            return state
        raise SlashingError("not open on this node", code="penalty_not_open", field="penalty_id")
    assert state.base is not None
    log = tuple(
        e for e in state.log if e.penalty is None or e.penalty.penalty_id != penalty.penalty_id
    )
    core = _replay(state.base, log)
    ids = tuple(i for i in state.open_penalty_ids if i != penalty.penalty_id)
    return _normalize(state, core, log, ids)


def settle_penalty(state: NodeStanding, penalty_id: str) -> NodeStanding:
    """The penalty can no longer be voided (upheld, or its appeal window passed): forget how
    to undo it. Unknown or already settled ids are a no-op."""
    if penalty_id not in state.open_penalty_ids:
        return state
    ids = tuple(i for i in state.open_penalty_ids if i != penalty_id)
    return _normalize(state, state.snapshot, state.log, ids)


# --------------------------------------------------------------------------------------------
# 7. Appeals


def can_appeal(penalty: Penalty, now_s: int, *, slash_status: str = SLASH_PENDING) -> bool:
    """Whether the provider may still appeal ``penalty`` at ``now_s``.

    Only a pending slash (not yet executed, upheld or voided) with a sanction to appeal
    (:attr:`Penalty.appealable`), strictly before ``appeal_deadline_s``: at the deadline the
    slash executes.
    """
    _require_int("now_s", now_s)
    if slash_status not in _SLASH_STATUSES:
        raise SlashingError(
            f"one of {_SLASH_STATUSES}", code="unknown_status", field="slash_status"
        )
    return (
        slash_status == SLASH_PENDING and penalty.appealable and now_s < penalty.appeal_deadline_s
    )


def decide_appeal(
    votes: Mapping[str, str], quorum: int, *, governors: AbstractSet[str] | None = None
) -> str:
    """Outcome of an appeal from governor votes: ``upheld``, ``voided`` or ``pending``.

    ``votes`` maps each governor (distinct by construction) to ``uphold`` or ``void``; a side
    wins when at least ``quorum`` governors voted for it (``params.governance.quorum``). Votes
    of addresses not in ``governors`` (when given) do not count. Should both sides reach the
    quorum (only possible when the quorum is at most half the governors) the appeal stays
    ``pending``: a deadlock is for governance to resolve, not for a tie-break rule here.
    """
    _require_int("quorum", quorum, 1)
    if len(votes) > MAX_APPEAL_VOTES:
        raise SlashingError(f"at most {MAX_APPEAL_VOTES}", code="too_many_votes", field="votes")
    uphold = void = 0
    for governor, vote in votes.items():
        _require_str("votes", governor)
        if vote not in (VOTE_UPHOLD, VOTE_VOID):
            raise SlashingError(
                "must be uphold or void", code="unknown_vote", field=f"votes[{governor}]"
            )
        if governors is not None and governor not in governors:
            continue
        if vote == VOTE_UPHOLD:
            uphold += 1
        else:
            void += 1
    if uphold >= quorum and void < quorum:
        return APPEAL_UPHELD
    if void >= quorum and uphold < quorum:
        return APPEAL_VOIDED
    return APPEAL_PENDING


@dataclass(frozen=True, slots=True)
class Appeal:
    """A provider's appeal of a penalty with counter-evidence, and the governor votes so far."""

    penalty_id: str
    filed_at_s: int
    counter_evidence: tuple[tuple[str, str], ...]
    counter_evidence_digest: str
    votes: tuple[tuple[str, str], ...] = ()

    def outcome(self, quorum: int, *, governors: AbstractSet[str] | None = None) -> str:
        """:func:`decide_appeal` over this appeal's votes."""
        return decide_appeal(dict(self.votes), quorum, governors=governors)


def file_appeal(
    penalty: Penalty,
    now_s: int,
    counter_evidence: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    slash_status: str = SLASH_PENDING,
) -> Appeal:
    """Open an appeal of ``penalty`` at ``now_s``; ``appeal_not_allowed`` when
    :func:`can_appeal` says no."""
    if not can_appeal(penalty, now_s, slash_status=slash_status):
        raise SlashingError(
            f"not appealable at {now_s} (deadline {penalty.appeal_deadline_s}, {slash_status})",
            code="appeal_not_allowed",
            field="penalty_id",
            kind=ErrorKind.CONFLICT,
        )
    canonical = canonical_evidence(counter_evidence)
    return Appeal(penalty.penalty_id, now_s, canonical, evidence_digest(canonical))


def cast_vote(appeal: Appeal, governor: str, vote: str) -> Appeal:
    """Record ``governor``'s vote. Repeating the same vote is a no-op; changing it is refused
    (``vote_already_cast``), so a vote once counted stays counted."""
    _require_str("governor", governor)
    if vote not in (VOTE_UPHOLD, VOTE_VOID):
        raise SlashingError("must be uphold or void", code="unknown_vote", field="vote")
    cast = dict(appeal.votes)
    if governor in cast:
        if cast[governor] == vote:
            return appeal
        raise SlashingError(
            f"{governor} voted {cast[governor]}",
            code="vote_already_cast",
            field="vote",
            kind=ErrorKind.CONFLICT,
        )
    if len(cast) >= MAX_APPEAL_VOTES:
        raise SlashingError(f"at most {MAX_APPEAL_VOTES}", code="too_many_votes", field="votes")
    return replace(appeal, votes=tuple(sorted((*appeal.votes, (governor, vote)))))
