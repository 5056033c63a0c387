"""Telemetry rollups: what an epoch of heartbeats says about one node. Pure.

A rollup is a commutative summary: merging the same heartbeats in any order, or in any split into
batches, gives the same rollup (the p50 latency comes from a histogram, not a running guess).

Uptime is counted per interval slot (SPEC 3): a heartbeat counts for the slot its ``ts`` falls
in, ``(ts - epoch_start) // heartbeat_interval_s``; a slot counts once however many heartbeats
fill it, and is *up* when any of them says up (an OR, so the order cannot matter). Sending many
heartbeats early never buys uptime for the rest of the epoch. Slot sets travel as bitmasks:
bit ``k`` is slot ``k``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class ItemStatus(enum.StrEnum):
    """The outcome of one heartbeat of a telemetry batch (stable: clients read it)."""

    ACCEPTED = "accepted"  # stored durably before the answer
    DUPLICATE = "duplicate"  # already accepted (or twice in the batch): never counted twice
    REJECTED = "rejected"  # refused, with a RejectReason


class RejectReason(enum.StrEnum):
    """Why a heartbeat was rejected, in the order the checks run (stable codes)."""

    MALFORMED_FIELD = "malformed_field"  # with the field
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    UNKNOWN_NODE = "unknown_node"
    DEREGISTERED_NODE = "deregistered_node"
    BAD_SIGNATURE = "bad_signature"
    SEQ_TOO_OLD = "seq_too_old"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One verified heartbeat (already accepted: signature, node and clock checked)."""

    node_id: str
    seq: int
    ts: int  # unix seconds
    up: bool
    gpu_util_ppm: int
    latency_ms_p50: int
    jobs_ok: int
    jobs_failed: int
    bandwidth_mbps: int
    user_rating: int | None = None  # 1..5


@dataclass(frozen=True, slots=True)
class NodeEpochRollup:
    """Per node and epoch, everything rewards and slashing read from telemetry."""

    node_id: str
    epoch: int
    heartbeats_expected: int  # epoch length / heartbeat interval
    heartbeats_received: int
    heartbeats_up: int
    heartbeats_excused: int  # expected heartbeats inside declared maintenance windows, missed
    latency_p50_ms: int | None  # lower median of received latencies; None if none received
    jobs_ok: int
    jobs_failed: int
    gpu_util_ppm_sum: int
    bandwidth_mbps_sum: int
    rating_sum: int
    rating_count: int
    latency_histogram: Mapping[int, int] = field(default_factory=dict)  # latency ms -> count
    #: Accepted heartbeats (every one, not slots): the denominator of per-heartbeat means such
    #: as GPU utilization. ``heartbeats_received`` and ``heartbeats_up`` count slots.
    heartbeats_accepted: int = 0

    @property
    def counted_expected(self) -> int:
        """Expected heartbeats that count toward uptime (declared maintenance excluded)."""
        return max(0, self.heartbeats_expected - self.heartbeats_excused)

    @property
    def availability_ppm(self) -> int:
        """Share of the epoch the node was on duty (not in declared maintenance), ppm, down.

        Maintenance is not downtime (no penalty, no violation), but capacity that was not
        offered earns nothing: rewards scale the node's weight by this.
        """
        if self.heartbeats_expected == 0:
            return 0
        return self.counted_expected * 1_000_000 // self.heartbeats_expected

    @property
    def uptime_ppm(self) -> int:
        """Up slots over counted expected slots, ppm, rounded down (at most 100%: a slot counts
        once)."""
        if self.counted_expected == 0:
            return 1_000_000
        return min(1_000_000, self.heartbeats_up * 1_000_000 // self.counted_expected)

    @property
    def received_ppm(self) -> int:
        """Slots with a heartbeat over counted expected slots, ppm, rounded down."""
        if self.counted_expected == 0:
            return 1_000_000
        return min(1_000_000, self.heartbeats_received * 1_000_000 // self.counted_expected)

    @property
    def error_rate_ppm(self) -> int | None:
        """Failed over all jobs, ppm, rounded down; None when the node ran no job."""
        total = self.jobs_ok + self.jobs_failed
        if total == 0:
            return None
        return self.jobs_failed * 1_000_000 // total


def lower_median(histogram: Mapping[int, int]) -> int | None:
    """The lower median of a multiset given as value -> count (order-independent, exact)."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = (total + 1) // 2  # 1-based rank of the lower median
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable")


def slot_of(ts: int, epoch_start_s: int, interval_s: int) -> int:
    """The interval slot of the epoch starting at ``epoch_start_s`` that ``ts`` falls in."""
    assert interval_s > 0
    return (ts - epoch_start_s) // interval_s


def slot_count(mask: int) -> int:
    """How many slots a bitmask holds."""
    assert mask >= 0
    return mask.bit_count()


def excused_slots(maintenance_mask: int, received_mask: int) -> int:
    """Declared-maintenance slots the node sent nothing in: left out of its expected slots.
    A slot in maintenance that did receive a heartbeat counts like any other."""
    return slot_count(maintenance_mask & ~received_mask)


def rollup(
    node_id: str,
    epoch: int,
    heartbeats: Iterable[Heartbeat],
    *,
    heartbeats_expected: int,
    epoch_start_s: int,
    interval_s: int,
    maintenance_mask: int = 0,
) -> NodeEpochRollup:
    """Summarize one node's accepted heartbeats of one epoch (duplicates already dropped).

    Uptime and received count slots (bit masks OR-ed together); jobs, utilization, bandwidth,
    ratings and latencies add up over every accepted heartbeat. Slots outside the epoch's
    ``heartbeats_expected`` (a partial last interval) are not counted.
    """
    accepted = jobs_ok = jobs_failed = gpu = bw = rsum = rcount = 0
    received_mask = up_mask = 0
    in_epoch = (1 << heartbeats_expected) - 1
    hist: dict[int, int] = {}
    for hb in heartbeats:
        if hb.node_id != node_id:
            raise ValueError(f"heartbeat of node {hb.node_id!r} in the rollup of {node_id!r}")
        accepted += 1
        slot = slot_of(hb.ts, epoch_start_s, interval_s)
        if slot < 0:
            raise ValueError(f"heartbeat at {hb.ts} is before epoch {epoch} ({epoch_start_s})")
        bit = 1 << slot
        received_mask |= bit
        if hb.up:
            up_mask |= bit
        jobs_ok += hb.jobs_ok
        jobs_failed += hb.jobs_failed
        gpu += hb.gpu_util_ppm
        bw += hb.bandwidth_mbps
        hist[hb.latency_ms_p50] = hist.get(hb.latency_ms_p50, 0) + 1
        if hb.user_rating is not None:
            rsum += hb.user_rating
            rcount += 1
    received_mask &= in_epoch
    up_mask &= in_epoch
    return NodeEpochRollup(
        node_id=node_id,
        epoch=epoch,
        heartbeats_expected=heartbeats_expected,
        heartbeats_received=slot_count(received_mask),
        heartbeats_up=slot_count(up_mask),
        heartbeats_excused=excused_slots(maintenance_mask & in_epoch, received_mask),
        latency_p50_ms=lower_median(hist),
        jobs_ok=jobs_ok,
        jobs_failed=jobs_failed,
        gpu_util_ppm_sum=gpu,
        bandwidth_mbps_sum=bw,
        rating_sum=rsum,
        rating_count=rcount,
        latency_histogram=hist,
        heartbeats_accepted=accepted,
    )
