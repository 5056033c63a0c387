"""Violations: one finding of the matrix about one node, with canonical evidence and its id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from ledger.kit.limits import MAX_DUPLICATE_COUNT, MAX_SEVERITY_UNITS
from ledger.slashing.domain.errors import (
    SlashingError,
    require_address,
    require_int,
    require_str,
)
from ledger.slashing.domain.evidence import canonical_digest, canonical_evidence, violation_id
from ledger.slashing.domain.kinds import KIND_CLASS, Severity, ViolationClass, ViolationKind


def _require_kind(kind: object) -> ViolationKind:
    if kind not in KIND_CLASS:
        raise SlashingError(f"{kind!r} is not a violation kind", code="unknown_kind", field="kind")
    return ViolationKind(str(kind))


@dataclass(frozen=True, slots=True)
class Violation:
    """One finding of the matrix about one node, with its canonical evidence.

    Build it with :func:`make_violation` (or a detector), which derives ``evidence_digest`` and
    ``violation_id``; the constructor re-derives both and refuses a mismatch, so a stored
    violation cannot carry an id its evidence does not give. ``severity`` is set for security
    breaches only, ``duplicate_count`` (>= 1) for duplicate hardware only, ``severity_units``
    (>= 1) for resource hoarding only. ``infraction_at_s`` is when the stake at risk is taken.
    Kind, class and severity given as their string values are stored as the enum members.
    """

    violation_id: str
    node_id: str
    provider_id: str
    kind: ViolationKind
    klass: ViolationClass
    infraction_epoch: int
    infraction_at_s: int
    evidence: tuple[tuple[str, str], ...]
    evidence_digest: str
    severity: Severity | None = None
    duplicate_count: int = 0
    severity_units: int = 0

    def __post_init__(self) -> None:
        require_str("node_id", self.node_id)
        require_address("provider_id", self.provider_id)
        kind = _require_kind(self.kind)
        if self.klass != KIND_CLASS[kind]:
            raise SlashingError(f"{kind} is {KIND_CLASS[kind]}", code="wrong_class", field="klass")
        # frozen: the checked values are stored as enum members the only way a frozen class can.
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "klass", KIND_CLASS[kind])
        require_int("infraction_epoch", self.infraction_epoch)
        require_int("infraction_at_s", self.infraction_at_s)
        self._check_identity()
        self._check_kind_fields()

    def _check_identity(self) -> None:
        """Evidence canonical, digest and id derived from it."""
        canonical = canonical_evidence(self.evidence)
        if canonical != self.evidence:
            raise SlashingError(
                "use canonical_evidence()", code="evidence_not_canonical", field="evidence"
            )
        if self.evidence_digest != canonical_digest(canonical):
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

    def _check_kind_fields(self) -> None:
        """Severity, duplicate count and severity units: set for their kind and only for it."""
        security = self.kind == ViolationKind.SECURITY_BREACH
        if security != (self.severity is not None):
            raise SlashingError(
                "set for security breaches and only them", code="severity", field="severity"
            )
        if security:
            if self.severity not in tuple(Severity):
                raise SlashingError(
                    f"one of {', '.join(Severity)}", code="severity", field="severity"
                )
            object.__setattr__(self, "severity", Severity(self.severity))
        sybil = self.kind == ViolationKind.DUPLICATE_HARDWARE
        require_int(
            "duplicate_count",
            self.duplicate_count,
            1 if sybil else 0,
            MAX_DUPLICATE_COUNT if sybil else 0,
        )
        hoarding = self.kind == ViolationKind.RESOURCE_HOARDING
        require_int(
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
    """Build a :class:`Violation`, deriving its class, evidence digest and id.

    ``kind`` and ``severity`` are :class:`ViolationKind` / :class:`Severity` members or their
    string values (as an API or a report gives them)."""
    violation_kind = _require_kind(kind)
    canonical = canonical_evidence(evidence)
    digest = canonical_digest(canonical)
    require_str("node_id", node_id)
    require_int("infraction_epoch", infraction_epoch)
    return Violation(
        violation_id=violation_id(violation_kind, node_id, infraction_epoch, digest),
        node_id=node_id,
        provider_id=provider_id,
        kind=violation_kind,
        klass=KIND_CLASS[violation_kind],
        infraction_epoch=infraction_epoch,
        infraction_at_s=infraction_at_s,
        evidence=canonical,
        evidence_digest=digest,
        # Checked and stored as a Severity member by Violation, which names the field if bad.
        severity=cast("Severity | None", severity),
        duplicate_count=duplicate_count,
        severity_units=severity_units,
    )
