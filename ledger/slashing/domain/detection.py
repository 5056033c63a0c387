"""Detection: poor performance from a node-epoch's telemetry rollup, duplicate hardware from
fingerprints. Security, malicious and hoarding reports are built with :func:`make_violation`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ledger.kit.limits import MAX_SYBIL_NODES
from ledger.kit.money import PPM
from ledger.params.domain import ParameterSet, SlashingParams
from ledger.slashing.domain.errors import SlashingError, require_int, require_str
from ledger.slashing.domain.kinds import PERFORMANCE_KINDS, ViolationClass, ViolationKind
from ledger.slashing.domain.violations import Violation, make_violation
from ledger.telemetry.domain import NodeEpochRollup

#: A finding before it becomes a Violation: its kind and its evidence (decimal strings).
_Finding = tuple[ViolationKind, dict[str, str]]


def _downtime(rollup: NodeEpochRollup, s: SlashingParams) -> _Finding | None:
    uptime_ppm = rollup.uptime_ppm
    if rollup.counted_expected <= 0 or uptime_ppm >= s.downtime_uptime_threshold_ppm:
        return None
    return ViolationKind.DOWNTIME, {
        "heartbeats_expected": str(rollup.heartbeats_expected),
        "heartbeats_excused": str(rollup.heartbeats_excused),
        "heartbeats_counted": str(rollup.counted_expected),
        "heartbeats_up": str(rollup.heartbeats_up),
        "uptime_ppm": str(uptime_ppm),
        "threshold_ppm": str(s.downtime_uptime_threshold_ppm),
    }


def _error_rate(rollup: NodeEpochRollup, s: SlashingParams) -> _Finding | None:
    jobs = rollup.jobs_ok + rollup.jobs_failed
    # The exact ratio against the threshold, cross-multiplied: flooring the rate to ppm first
    # would let 10.0001% pass a 10% threshold. (Downtime may compare the floored ppm: for an
    # integer threshold T, floor(x) < T exactly when x < T.)
    if jobs == 0 or rollup.jobs_failed * PPM <= s.error_rate_threshold_ppm * jobs:
        return None
    error_rate_ppm = rollup.error_rate_ppm
    return ViolationKind.ERROR_RATE, {
        "jobs_ok": str(rollup.jobs_ok),
        "jobs_failed": str(rollup.jobs_failed),
        "error_rate_ppm": str(error_rate_ppm),
        "threshold_ppm": str(s.error_rate_threshold_ppm),
    }


def _latency(rollup: NodeEpochRollup, s: SlashingParams, target_ms: int) -> _Finding | None:
    p50 = rollup.latency_p50_ms
    multiple = s.latency_threshold_multiple_ppm
    if p50 is None or p50 * PPM <= target_ms * multiple:
        return None
    return ViolationKind.LATENCY, {
        "latency_p50_ms": str(p50),
        "latency_target_ms": str(target_ms),
        "threshold_multiple_ppm": str(multiple),
    }


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
    require_int("latency_target_ms", latency_target_ms, 1)
    require_int("epoch_start_s", epoch_start_s)
    findings = (
        _downtime(rollup, slashing),
        _error_rate(rollup, slashing),
        _latency(rollup, slashing, latency_target_ms),
    )
    return [
        make_violation(
            kind,
            node_id=rollup.node_id,
            provider_id=provider_id,
            infraction_epoch=rollup.epoch,
            infraction_at_s=epoch_start_s,
            evidence={"epoch": str(rollup.epoch)} | evidence,
        )
        for kind, evidence in (f for f in findings if f is not None)
    ]


def performance_offence(violations: Sequence[Violation]) -> Violation | None:
    """The one poor-performance finding of a node-epoch that goes on the ladder, or None.

    A node that was down *and* slow in one epoch committed one offence, not two: the first
    finding in :data:`PERFORMANCE_KINDS` order (downtime, error rate, latency) is penalised and
    the others stay on record with it. Pass the findings left after waivers; mixing nodes or
    epochs is refused. Other classes are ignored here.
    """
    perf = [v for v in violations if v.klass == ViolationClass.POOR_PERFORMANCE]
    if not perf:
        return None
    if len({(v.node_id, v.infraction_epoch) for v in perf}) != 1:
        raise SlashingError(
            "one node and epoch at a time", code="mixed_node_epochs", field="violations"
        )
    return min(perf, key=lambda v: (PERFORMANCE_KINDS.index(v.kind), v.violation_id))


def _fingerprint_groups(fingerprints: Mapping[str, str]) -> dict[str, list[str]]:
    """Node ids by fingerprint, in input order."""
    if len(fingerprints) > MAX_SYBIL_NODES:
        raise SlashingError(
            f"at most {MAX_SYBIL_NODES} nodes", code="too_many_nodes", field="fingerprints"
        )
    groups: dict[str, list[str]] = {}
    for node_id, fingerprint in fingerprints.items():
        require_str("fingerprints", node_id)
        groups.setdefault(require_str(f"fingerprints[{node_id}]", fingerprint), []).append(node_id)
    return groups


def _duplicates(
    fingerprint: str,
    members: list[str],
    registered_at_s: Mapping[str, int],
    provider_of: Mapping[str, str],
    epoch_length_s: int,
) -> list[Violation]:
    """The violations of one group of nodes sharing ``fingerprint``: all but the original."""
    for node_id in members:
        if node_id not in registered_at_s or node_id not in provider_of:
            raise SlashingError(
                f"no registration for node {node_id!r}",
                code="unknown_node",
                field="registered_at_s",
            )
        require_int(f"registered_at_s[{node_id}]", registered_at_s[node_id])
    ordered = sorted(members, key=lambda n: (registered_at_s[n], n))
    original = ordered[0]
    found = []
    for dup in sorted(ordered[1:]):
        at_s = registered_at_s[dup]
        found.append(
            make_violation(
                ViolationKind.DUPLICATE_HARDWARE,
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
    groups = _fingerprint_groups(fingerprints)
    found: list[Violation] = []
    for fingerprint in sorted(groups):
        members = groups[fingerprint]
        if len(members) >= 2:
            found += _duplicates(
                fingerprint, members, registered_at_s, provider_of, params.epoch.epoch_length_s
            )
    return found
