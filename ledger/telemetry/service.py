"""Telemetry use cases: ingest signed heartbeat batches, roll them up, re-enqueue stragglers.

Durability design (docs/telemetry.md): the API verifies and de-duplicates, then writes the
accepted heartbeats and a batch row to PostgreSQL in one transaction before it answers
"accepted". Rolling up is a separate, idempotent step keyed by the batch id: a Celery task
claims the batch (rolled_at) and adds its heartbeats to the rollups in one transaction, so a
crash loses nothing and a retry adds nothing. Redis only carries "please roll up batch X"
messages; if they are lost (flush, restart) the sweeper finds unrolled batches in PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection

from ledger.kit.errors import InvalidInput, TooLarge
from ledger.kit.http import text_problem
from ledger.kit.limits import (
    CLIENT_VERIFY_LIMIT,
    MAX_BANDWIDTH_MBPS,
    MAX_JOBS,
    MAX_LATENCY_MS,
    MAX_SEQ,
    MAX_TELEMETRY_BATCH,
    NODE_RATE_HEADROOM,
    NODE_RATE_WINDOW_S,
    SWEEP_AFTER_S,
    SWEEP_LIMIT,
)
from ledger.kit.signing import heartbeat_message, recover
from ledger.params.domain import ParameterSet
from ledger.registry.domain import NodeStatus, expected_heartbeats
from ledger.telemetry import keepers
from ledger.telemetry.domain import (
    Heartbeat,
    ItemStatus,
    NodeEpochRollup,
    RejectReason,
    excused_slots,
    lower_median,
    rollup,
    slot_count,
    slot_of,
)
from ledger.telemetry.repository import ROLLUP_COUNTERS, StoredHeartbeat, TelemetryRepository

FIELDS: tuple[tuple[str, type, int, int], ...] = (
    ("seq", int, 1, MAX_SEQ),
    ("ts", int, 0, 2**40),
    ("gpu_util_ppm", int, 0, 1_000_000),
    ("latency_ms_p50", int, 0, MAX_LATENCY_MS),
    ("jobs_ok", int, 0, MAX_JOBS),
    ("jobs_failed", int, 0, MAX_JOBS),
    ("bandwidth_mbps", int, 0, MAX_BANDWIDTH_MBPS),
)


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of the heartbeat at ``index`` of a batch."""

    index: int
    status: ItemStatus
    reason: RejectReason | None = None
    field: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status.value}
        if self.reason:
            out["reason"] = self.reason.value
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class IngestResult:
    batch_id: int | None
    results: list[ItemResult]
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, status: ItemStatus) -> int:
        return sum(1 for r in self.results if r.status == status)


class _Malformed(Exception):
    def __init__(self, field: str):
        self.field = field


def parse_item(item: object) -> tuple[Heartbeat, str]:
    """Validate one heartbeat's fields; raises _Malformed naming the first bad one."""
    if not isinstance(item, dict):
        raise _Malformed("heartbeat")
    node_id = item.get("node_id")
    # text_problem: a NUL or a lone surrogate would fail the whole batch's INSERT (issue 10).
    if not isinstance(node_id, str) or not 0 < len(node_id) <= 64 or text_problem(node_id):
        raise _Malformed("node_id")
    values: dict[str, int] = {}
    for name, _typ, lo, hi in FIELDS:
        v = item.get(name)
        if type(v) is not int or not lo <= v <= hi:
            raise _Malformed(name)
        values[name] = v
    up = item.get("up")
    if type(up) is not bool:
        raise _Malformed("up")
    rating = item.get("user_rating")
    if rating is not None and (type(rating) is not int or not 1 <= rating <= 5):
        raise _Malformed("user_rating")
    sig = item.get("signature")
    if not isinstance(sig, str) or len(sig) not in (130, 132):
        raise _Malformed("signature")
    hb = Heartbeat(
        node_id=node_id,
        seq=values["seq"],
        ts=values["ts"],
        up=up,
        gpu_util_ppm=values["gpu_util_ppm"],
        latency_ms_p50=values["latency_ms_p50"],
        jobs_ok=values["jobs_ok"],
        jobs_failed=values["jobs_failed"],
        bandwidth_mbps=values["bandwidth_mbps"],
        user_rating=rating,
    )
    return hb, sig


def parse_batch(body: object) -> list[Any]:
    """The batch envelope: a malformed envelope is refused as a whole, naming the field."""
    if not isinstance(body, dict):
        raise InvalidInput(
            'body: expected a JSON object {"heartbeats": [...]}',
            field="body",
            code="invalid_request",
        )
    items = body.get("heartbeats")
    if not isinstance(items, list):
        raise InvalidInput(
            "heartbeats: expected a list", field="heartbeats", code="invalid_request"
        )
    if not items:
        raise InvalidInput("heartbeats: empty batch", field="heartbeats", code="invalid_request")
    if len(items) > MAX_TELEMETRY_BATCH:
        raise TooLarge(
            f"heartbeats: at most {MAX_TELEMETRY_BATCH} per request, got {len(items)}",
            field="heartbeats",
            code="batch_too_large",
        )
    return items


class RateLimiter(Protocol):
    """Grants each key (a node id) up to ``limit`` heartbeats per window, counting only what it
    grants; ``refund`` gives back grants that were not used."""

    def __call__(self, wanted: dict[str, int], limit: int | None = None) -> dict[str, int]: ...

    def refund(self, unused: dict[str, int]) -> None: ...


def node_rate_limit(params: ParameterSet) -> int:
    """Accepted heartbeats a node may send per rate window: NODE_RATE_HEADROOM for every one
    the profile expects in the window (10 a minute with 60 s heartbeats, 100 with 6 s)."""
    interval = params.telemetry.heartbeat_interval_s
    return max(1, NODE_RATE_HEADROOM * NODE_RATE_WINDOW_S // interval)


def client_allowance(limiter: RateLimiter | None, client: str, items: int) -> int | None:
    """How many items of a request from ``client`` may have their signature checked (None: no
    limiter, all of them). Counted before any verification, per client and window."""
    if limiter is None:
        return None
    return limiter({client: items}, CLIENT_VERIFY_LIMIT).get(client, 0)


def ingest(
    conn: Connection,
    items: Sequence[Any],
    *,
    now: dt.datetime,
    params: ParameterSet,
    limiter: RateLimiter | None = None,
    verify_budget: int | None = None,
) -> IngestResult:
    """Verify, de-duplicate and store one batch; the caller commits, then enqueues the rollup.

    Order of checks per heartbeat: fields, clock, the client's verification budget
    (``verify_budget`` items may have their signature checked), node (known, active),
    signature, replay window, duplicates (within the batch and already accepted), the per-node
    rate limit, then exactly-once acceptance on (node_id, seq). Duplicates are answered before
    the rate limit, so a replayed heartbeat never consumes its node's budget. Each step decides
    some items (``results[i]``) and passes the others on.
    """
    results: list[ItemResult | None] = [None] * len(items)
    parsed = _parse_and_clock(items, now, params, results)
    if verify_budget is not None:
        parsed = _over_budget(parsed, verify_budget, results)
    nodes = keepers.nodes_by_ids(conn, sorted({hb.node_id for _, hb, _ in parsed}))
    valid = _verify(parsed, nodes, params, results)
    valid = _known_duplicates(conn, valid, results)
    granted: dict[str, int] = {}
    if limiter is not None and valid:
        valid, granted = _rate_limit(valid, limiter, node_rate_limit(params), results)
    batch_id = _store(conn, valid, now, params, results) if valid else None
    if limiter is not None and granted:
        _refund_unused(limiter, granted, valid, results)
    final = [r for r in results if r is not None]
    assert len(final) == len(items), "every heartbeat has exactly one outcome"
    return IngestResult(batch_id, final, _tally(final))


#: A heartbeat that passed a step: its index in the batch, the heartbeat, its signature.
_Item = tuple[int, Heartbeat, str]
_Signed = tuple[int, Heartbeat, bytes]


def _parse_and_clock(
    items: Sequence[Any], now: dt.datetime, params: ParameterSet, results: list[ItemResult | None]
) -> list[_Item]:
    """Fields, then the clock: a heartbeat too far from the server's time is rejected."""
    now_ts = int(now.timestamp())
    skew = params.telemetry.clock_skew_s
    interval = params.telemetry.heartbeat_interval_s
    parsed: list[_Item] = []
    for i, item in enumerate(items):
        try:
            hb, sig = parse_item(item)
        except _Malformed as m:
            results[i] = ItemResult(i, ItemStatus.REJECTED, RejectReason.MALFORMED_FIELD, m.field)
            continue
        # Late heartbeats may be up to the skew old; early ones at most one interval ahead
        # (a node cannot fill future slots in advance and then go quiet).
        if hb.ts < now_ts - skew or hb.ts > now_ts + min(skew, interval):
            results[i] = ItemResult(
                i, ItemStatus.REJECTED, RejectReason.TIMESTAMP_OUT_OF_RANGE, "ts"
            )
            continue
        parsed.append((i, hb, sig))
    return parsed


def _verify(
    parsed: list[_Item],
    nodes: Mapping[str, keepers.NodeRow],
    params: ParameterSet,
    results: list[ItemResult | None],
) -> list[_Signed]:
    """The node (registered, active), its signature, the replay window, and duplicates within
    the batch (the first of two equal (node_id, seq) goes on)."""
    window = params.telemetry.seq_reorder_window
    rejected = ItemStatus.REJECTED
    seen: set[tuple[str, int]] = set()
    valid: list[_Signed] = []
    for i, hb, sig in parsed:
        node = nodes.get(hb.node_id)
        if node is None:
            results[i] = ItemResult(i, rejected, RejectReason.UNKNOWN_NODE, "node_id")
            continue
        if node.status is not NodeStatus.ACTIVE:
            results[i] = ItemResult(i, rejected, RejectReason.DEREGISTERED_NODE, "node_id")
            continue
        message = heartbeat_message(
            hb.node_id, hb.seq, hb.ts, hb.up, hb.gpu_util_ppm, hb.latency_ms_p50, hb.jobs_ok,
            hb.jobs_failed, hb.bandwidth_mbps, hb.user_rating,
        )  # fmt: skip
        if recover(message, sig) != node.node_address:
            results[i] = ItemResult(i, rejected, RejectReason.BAD_SIGNATURE, "signature")
            continue
        if hb.seq + window < node.max_seq:
            results[i] = ItemResult(i, rejected, RejectReason.SEQ_TOO_OLD, "seq")
            continue
        key = (hb.node_id, hb.seq)
        if key in seen:
            results[i] = ItemResult(i, ItemStatus.DUPLICATE)
            continue
        seen.add(key)
        valid.append((i, hb, bytes.fromhex(sig[2:] if sig.startswith("0x") else sig)))
    return valid


def _over_budget(parsed: list[_Item], budget: int, results: list[ItemResult | None]) -> list[_Item]:
    """The client's verification budget: items past it are refused before any signature
    recovery (a forged flood costs the service no CPU beyond the budget)."""
    for i, _, _ in parsed[max(0, budget) :]:
        results[i] = ItemResult(i, ItemStatus.REJECTED, RejectReason.RATE_LIMITED)
    return parsed[: max(0, budget)]


def _known_duplicates(
    conn: Connection, valid: list[_Signed], results: list[ItemResult | None]
) -> list[_Signed]:
    """Heartbeats accepted before are duplicates now, before the rate limit sees them."""
    if not valid:
        return valid
    seen = TelemetryRepository(conn).accepted_seqs([(hb.node_id, hb.seq) for _, hb, _ in valid])
    kept = []
    for i, hb, sig_bytes in valid:
        if (hb.node_id, hb.seq) in seen:
            results[i] = ItemResult(i, ItemStatus.DUPLICATE)
        else:
            kept.append((i, hb, sig_bytes))
    return kept


def _rate_limit(
    valid: list[_Signed], limiter: RateLimiter, limit: int, results: list[ItemResult | None]
) -> tuple[list[_Signed], dict[str, int]]:
    """The per-node rate limit: each node's first heartbeats pass, up to what it is allowed.
    Returns what passed and what was granted per node."""
    wanted: dict[str, int] = {}
    for _, hb, _ in valid:
        wanted[hb.node_id] = wanted.get(hb.node_id, 0) + 1
    granted = limiter(wanted, limit)
    left = dict(granted)
    kept = []
    for i, hb, sig_bytes in valid:
        if left.get(hb.node_id, 0) > 0:
            left[hb.node_id] -= 1
            kept.append((i, hb, sig_bytes))
        else:
            results[i] = ItemResult(i, ItemStatus.REJECTED, RejectReason.RATE_LIMITED, "node_id")
    return kept, granted


def _refund_unused(
    limiter: RateLimiter,
    granted: dict[str, int],
    passed: list[_Signed],
    results: list[ItemResult | None],
) -> None:
    """A granted heartbeat that turned out a duplicate (a concurrent batch took its seq first)
    gives its grant back: only accepted heartbeats count toward a node's budget."""
    unused: dict[str, int] = {}
    for i, hb, _ in passed:
        r = results[i]
        if r is not None and r.status is ItemStatus.DUPLICATE:
            unused[hb.node_id] = unused.get(hb.node_id, 0) + 1
    assert all(unused[n] <= granted.get(n, 0) for n in unused)
    limiter.refund(unused)


def _store(
    conn: Connection,
    valid: list[_Signed],
    now: dt.datetime,
    params: ParameterSet,
    results: list[ItemResult | None],
) -> int | None:
    """Exactly-once acceptance: the seq registry takes each (node_id, seq) once; what it took
    is accepted, the rest were accepted before. Returns the batch id, or None if none was new."""
    epoch_len = params.epoch.epoch_length_s
    interval = params.telemetry.heartbeat_interval_s
    repo = TelemetryRepository(conn)
    batch_id = repo.next_batch_id()
    # A heartbeat belongs to the epoch and the interval slot its own ts falls in.
    rows = [
        (
            hb.node_id, hb.seq, hb.ts, hb.ts // epoch_len, hb.up, hb.gpu_util_ppm,
            hb.latency_ms_p50, hb.jobs_ok, hb.jobs_failed, hb.bandwidth_mbps, hb.user_rating,
            sig_bytes, slot_of(hb.ts, (hb.ts // epoch_len) * epoch_len, interval),
        )
        for _, hb, sig_bytes in valid
    ]  # fmt: skip
    inserted = repo.insert_accepted(batch_id, now, rows)
    assert len(inserted) <= len(valid)
    for i, hb, _ in valid:
        accepted = (hb.node_id, hb.seq) in inserted
        results[i] = ItemResult(i, ItemStatus.ACCEPTED if accepted else ItemStatus.DUPLICATE)
    if not inserted:
        return None
    repo.record_batch(batch_id, now, len(inserted))
    return batch_id


def _tally(final: Sequence[ItemResult]) -> dict[str, int]:
    """Counters by outcome, rejections by reason (``rejected:<reason>``)."""
    counters: dict[str, int] = {}
    for r in final:
        name = r.status.value if r.status != ItemStatus.REJECTED else f"rejected:{r.reason}"
        counters[name] = counters.get(name, 0) + 1
    assert sum(counters.values()) == len(final)
    return counters


def catch_up(conn: Connection, *, now: dt.datetime, limit: int = SWEEP_LIMIT * 20) -> int:
    """Roll up every batch still queued, in the caller's transaction (before an epoch is closed
    or judged, so it sees all the telemetry it accepted). Returns how many batches."""
    ids = TelemetryRepository(conn).pending_batches(now, limit)
    for batch_id in ids:
        rollup_batch(conn, batch_id, now=now)
    return len(ids)


def ensure_partitions(conn: Connection, now: dt.datetime, days_ahead: int = 2) -> int:
    """Create today's and the next days' heartbeat partitions (idempotent)."""
    today = int(now.timestamp()) // 86_400
    return TelemetryRepository(conn).ensure_partitions(range(today - 1, today + days_ahead + 1))


def _in_windows(ts: int, windows: Iterable[tuple[int, int]]) -> bool:
    return any(s <= ts < e for s, e in windows)


def rollup_batch(conn: Connection, batch_id: int, *, now: dt.datetime) -> int | None:
    """Add one batch's heartbeats to the rollups, exactly once. Returns the count rolled up,
    or None if the batch was already rolled up (or does not exist)."""
    repo = TelemetryRepository(conn)
    if not repo.claim_batch(batch_id, now):
        return None
    beats = repo.batch_heartbeats(batch_id)
    if not beats:
        return 0
    counters: dict[tuple[int, str], list[int]] = {}
    latency: dict[tuple[int, str, int], int] = {}
    slots: dict[tuple[int, str], tuple[int, int]] = {}  # (received, up) slot masks
    for b in beats:
        key = (b.epoch, b.node_id)
        received, up = slots.get(key, (0, 0))
        if b.slot is not None:
            bit = 1 << b.slot
            received |= bit
            up |= bit if b.up else 0
        slots[key] = (received, up)
        # In the order of ROLLUP_COUNTERS.
        c = counters.setdefault(key, [0] * len(ROLLUP_COUNTERS))
        c[0] += 1
        c[1] += b.up
        c[2] += b.jobs_ok
        c[3] += b.jobs_failed
        c[4] += b.gpu_util_ppm
        c[5] += b.bandwidth_mbps
        if b.user_rating is not None:
            c[6] += b.user_rating
            c[7] += 1
        lk = (b.epoch, b.node_id, b.latency_ms)
        latency[lk] = latency.get(lk, 0) + 1
    # Every heartbeat is counted once in the counters and once in the latency histogram.
    assert sum(c[0] for c in counters.values()) == len(beats) == sum(latency.values())
    repo.add_to_rollups(counters, latency, slots)
    return len(beats)


def lost_batches(
    conn: Connection,
    *,
    now: dt.datetime,
    older_than_s: int = SWEEP_AFTER_S,
    limit: int = SWEEP_LIMIT,
) -> list[int]:
    """Batches accepted a while ago and still not rolled up (their message was lost)."""
    return TelemetryRepository(conn).pending_batches(
        now - dt.timedelta(seconds=older_than_s), limit
    )


def _maintenance_mask(
    epoch: int,
    params: ParameterSet,
    windows: Iterable[tuple[int, int]],
    registered_at_s: int | None = None,
) -> int:
    """The expected slots of the epoch that are excused when missed, as a mask: those whose
    start falls inside a declared window, and those that started before the node was first
    registered (a node that joins mid-epoch is not expected before it existed)."""
    wins = list(windows)
    start = epoch * params.epoch.epoch_length_s
    if not wins and (registered_at_s is None or registered_at_s <= start):
        return 0  # the common case, on the close's hot path: nothing is excused
    interval = params.telemetry.heartbeat_interval_s
    expected = expected_heartbeats(params)
    mask = 0
    if registered_at_s is not None and registered_at_s > start:
        before = min(expected, -(-(registered_at_s - start) // interval))  # slots begun before
        mask = (1 << before) - 1
    if wins:
        mask |= sum(1 << k for k in range(expected) if _in_windows(start + k * interval, wins))
    return mask


def _epoch_windows(
    conn: Connection, epoch: int, params: ParameterSet, node_ids: Sequence[str]
) -> dict[str, list[tuple[int, int]]]:
    """Declared maintenance windows overlapping the epoch, per node."""
    start = epoch * params.epoch.epoch_length_s
    return keepers.maintenance_windows(conn, node_ids, start, start + params.epoch.epoch_length_s)


def epoch_rollups(
    conn: Connection, epoch: int, params: ParameterSet, node_ids: Sequence[str]
) -> dict[str, NodeEpochRollup]:
    """The stored rollups of ``node_ids`` for an epoch (zeros for silent nodes)."""
    repo = TelemetryRepository(conn)
    rows = repo.epoch_rollup_rows(epoch)
    hists = repo.epoch_latency(epoch)
    expected = expected_heartbeats(params)
    windows = _epoch_windows(conn, epoch, params, node_ids)
    joined = keepers.registered_after(conn, epoch * params.epoch.epoch_length_s)
    silent = (dict.fromkeys(ROLLUP_COUNTERS, 0), 0, 0)  # a node that sent nothing this epoch
    in_epoch = (1 << expected) - 1
    out = {}
    for node_id in node_ids:
        r, received, up = rows.get(node_id, silent)
        received &= in_epoch
        up &= in_epoch
        maintenance = _maintenance_mask(
            epoch, params, windows.get(node_id, ()), joined.get(node_id)
        )
        hist = hists.get(node_id, {})
        out[node_id] = NodeEpochRollup(
            node_id=node_id,
            epoch=epoch,
            heartbeats_expected=expected,
            heartbeats_received=slot_count(received),
            heartbeats_up=slot_count(up),
            heartbeats_excused=excused_slots(maintenance, received),
            latency_p50_ms=lower_median(hist),
            jobs_ok=r["jobs_ok"],
            jobs_failed=r["jobs_failed"],
            gpu_util_ppm_sum=r["gpu_util_ppm_sum"],
            bandwidth_mbps_sum=r["bandwidth_mbps_sum"],
            rating_sum=r["rating_sum"],
            rating_count=r["rating_count"],
            latency_histogram=hist,
            heartbeats_accepted=r["received"],
        )
    return out


def epoch_rollups_from_raw(
    conn: Connection, epoch: int, params: ParameterSet, node_ids: Sequence[str]
) -> dict[str, NodeEpochRollup]:
    """The same rollups recomputed from the raw heartbeats alone (independent verification)."""
    beats = TelemetryRepository(conn).epoch_heartbeats(epoch, params.epoch.epoch_length_s)
    by_node: dict[str, list[StoredHeartbeat]] = {}
    for b in beats:
        by_node.setdefault(b.node_id, []).append(b)
    expected = expected_heartbeats(params)
    windows = _epoch_windows(conn, epoch, params, node_ids)
    joined = keepers.registered_after(conn, epoch * params.epoch.epoch_length_s)
    out = {}
    for node_id in node_ids:
        mine = by_node.get(node_id, [])
        # Slots recomputed from each raw ts (the stored slot column is not trusted here).
        out[node_id] = rollup(
            node_id,
            epoch,
            (_as_heartbeat(b) for b in mine),
            heartbeats_expected=expected,
            epoch_start_s=epoch * params.epoch.epoch_length_s,
            interval_s=params.telemetry.heartbeat_interval_s,
            maintenance_mask=_maintenance_mask(
                epoch, params, windows.get(node_id, []), joined.get(node_id)
            ),
        )
    return out


def _as_heartbeat(b: StoredHeartbeat) -> Heartbeat:
    return Heartbeat(
        b.node_id, b.seq, b.ts, b.up, b.gpu_util_ppm, b.latency_ms, b.jobs_ok, b.jobs_failed,
        b.bandwidth_mbps, b.user_rating,
    )  # fmt: skip


def stats(conn: Connection) -> dict[str, int]:
    """Heartbeats stored, and batches waiting for their rollup."""
    return TelemetryRepository(conn).counts()
