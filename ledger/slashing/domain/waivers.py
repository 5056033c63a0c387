"""Correlated outages: downtime in a region where more than 20% of the nodes went down in the
same epoch is waived as a network incident, with the counts that justify it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from ledger.kit.money import PPM
from ledger.params.domain import ParameterSet
from ledger.slashing.domain.errors import SlashingError, require_int
from ledger.slashing.domain.evidence import canonical_evidence
from ledger.slashing.domain.kinds import ViolationKind, WaiverReason
from ledger.slashing.domain.violations import Violation


@dataclass(frozen=True, slots=True)
class Waiver:
    """A violation waived as part of a network incident, with the counts that justify it."""

    violation: Violation
    reason: WaiverReason
    region: str
    down_count: int
    active_count: int
    threshold_ppm: int

    @property
    def evidence(self) -> tuple[tuple[str, str], ...]:
        """The waiver's own evidence (sorted pairs): the region's counts and the threshold."""
        return canonical_evidence(
            {
                "reason": str(self.reason),
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
        active = require_int(
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
    downtime = [v for v in violations if v.kind == ViolationKind.DOWNTIME]
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
        if v.kind == ViolationKind.DOWNTIME and region in regions:
            assert region is not None  # in regions implies a known region
            waived.append(
                Waiver(
                    violation=v,
                    reason=WaiverReason.CORRELATED_OUTAGE,
                    region=region,
                    down_count=down[region],
                    active_count=active_counts_by_region[region],
                    threshold_ppm=params.slashing.correlated_outage_threshold_ppm,
                )
            )
        else:
            kept.append(v)
    assert len(kept) + len(waived) == len(violations)  # a split: nothing lost or doubled
    return kept, waived
