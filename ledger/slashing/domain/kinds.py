"""Stable codes of the slashing matrix: violation kinds and classes, severities, outcomes,
recovery paths, unjail requirements, and the statuses of standings, slashes, votes and appeals.

They end up in the ledger (PostgreSQL), the API and on chain: never change a value. Each is an
``enum.StrEnum``, so a member compares, hashes, formats and serializes as its value, and a plain
string read back from the database equals the member it was written from.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final


class ViolationKind(enum.StrEnum):
    """What a node did wrong (``Violation.kind``, ``slash_violations.kind``)."""

    DOWNTIME = "downtime"
    ERROR_RATE = "error_rate"
    LATENCY = "latency"
    SECURITY_BREACH = "security_breach"
    MALICIOUS_ACTIVITY = "malicious_activity"
    UNDER_STAKE = "under_stake"
    DUPLICATE_HARDWARE = "duplicate_hardware"
    RESOURCE_HOARDING = "resource_hoarding"


class ViolationClass(enum.StrEnum):
    """The matrix row family a kind belongs to (``Violation.klass``)."""

    POOR_PERFORMANCE = "poor_performance"
    SECURITY_BREACH = "security_breach"
    PROTOCOL_VIOLATION = "protocol_violation"


#: The order in which a node-epoch's poor-performance findings are ranked (performance_offence).
PERFORMANCE_KINDS: Final[tuple[ViolationKind, ...]] = (
    ViolationKind.DOWNTIME,
    ViolationKind.ERROR_RATE,
    ViolationKind.LATENCY,
)

KIND_CLASS: Final[Mapping[ViolationKind, ViolationClass]] = MappingProxyType(
    {
        ViolationKind.DOWNTIME: ViolationClass.POOR_PERFORMANCE,
        ViolationKind.ERROR_RATE: ViolationClass.POOR_PERFORMANCE,
        ViolationKind.LATENCY: ViolationClass.POOR_PERFORMANCE,
        ViolationKind.SECURITY_BREACH: ViolationClass.SECURITY_BREACH,
        ViolationKind.MALICIOUS_ACTIVITY: ViolationClass.SECURITY_BREACH,
        ViolationKind.UNDER_STAKE: ViolationClass.PROTOCOL_VIOLATION,
        ViolationKind.DUPLICATE_HARDWARE: ViolationClass.PROTOCOL_VIOLATION,
        ViolationKind.RESOURCE_HOARDING: ViolationClass.PROTOCOL_VIOLATION,
    }
)
assert set(KIND_CLASS) == set(ViolationKind)  # every kind has its matrix row


class Severity(enum.StrEnum):
    """How bad a security breach was (``Violation.severity``, security breaches only)."""

    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class Outcome(enum.StrEnum):
    """Outcomes of the rows off the ladder. The ladder's outcomes are the rung labels of the
    parameter set (warning / penalty / severe by default), so ``Penalty.outcome`` is a str."""

    IMMEDIATE = "immediate"
    SCALED = "scaled"


class RecoveryPath(enum.StrEnum):
    """How a penalised node gets back to good standing (``Penalty.recovery_path``)."""

    AUTOMATIC_UNJAIL = "automatic_unjail"
    SECURITY_REVIEW = "security_review"
    COMPLIANCE_VERIFICATION = "compliance_verification"
    NONE = "none"  # tombstoned: there is no way back


class UnjailRequirement(enum.StrEnum):
    """A check a jail waits for besides time. The declaration order is also the order in which
    ``NodeStanding.unjail_requires`` reports the first outstanding one."""

    SECURITY_REVIEW = "security_review"
    GOVERNOR_REVIEW = "governor_review"
    COMPLIANCE_VERIFICATION = "compliance_verification"


class StandingStatus(enum.StrEnum):
    """A node's slashing status (``NodeStanding.status``)."""

    ACTIVE = "active"
    JAILED = "jailed"
    TOMBSTONED = "tombstoned"


class WaiverReason(enum.StrEnum):
    """Why a finding was waived (``Waiver.reason``)."""

    CORRELATED_OUTAGE = "correlated_outage"


class SlashStatus(enum.StrEnum):
    """Where a penalty's slash is in the ledger (``slash_penalties.status`` and its events).

    A slash is ``HELD`` (stored as ``"pending"``: its funds sit in PENDING transfers) for the
    appeal window, then ``EXECUTED``, or decided by the appeal (``UPHELD`` / ``VOIDED``). A
    penalty that holds nothing (a warning, an under-stake record) is a ``WARNING`` from the
    start; :func:`can_appeal` knows only the first four (the lifecycle of a slash).
    """

    HELD = "pending"
    EXECUTED = "executed"
    UPHELD = "upheld"
    VOIDED = "voided"
    WARNING = "warning"
    #: An executed slash overturned later: every held unit refunded, its jail lifted.
    OVERTURNED = "overturned"


class Vote(enum.StrEnum):
    """A governor's vote on an appeal."""

    UPHOLD = "uphold"
    VOID = "void"


class AppealStatus(enum.StrEnum):
    """Outcome of an appeal so far (:func:`decide_appeal`): ``OPEN`` (stored and answered as
    ``"pending"``) until a side reaches the quorum."""

    OPEN = "pending"
    UPHELD = "upheld"
    VOIDED = "voided"


class ReleaseKind(enum.StrEnum):
    """An approval recorded for a jailed node (``node_releases.kind``): a governor-approved
    review or a passed compliance check."""

    REVIEW = "review"
    COMPLIANCE = "compliance"
