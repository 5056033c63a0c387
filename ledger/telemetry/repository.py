"""SQL for the telemetry inbox, raw heartbeats and their rollups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ledger.kit.db import driver, int_array


@dataclass(frozen=True, slots=True)
class StoredHeartbeat:
    node_id: str
    seq: int
    ts: int
    epoch: int
    up: bool
    gpu_util_ppm: int
    latency_ms: int
    jobs_ok: int
    jobs_failed: int
    bandwidth_mbps: int
    user_rating: int | None
    slot: int | None = None  # interval slot of the epoch (None: stored before slots existed)


HB_COLUMNS = (
    "node_id, seq, ts, epoch, up, gpu_util_ppm, latency_ms, jobs_ok, jobs_failed, "
    "bandwidth_mbps, user_rating, slot"
)
ROLLUP_COUNTERS = (
    "received", "up", "jobs_ok", "jobs_failed", "gpu_util_ppm_sum",
    "bandwidth_mbps_sum", "rating_sum", "rating_count",
)  # fmt: skip


#: Slots per bigint word of a slot mask (63: a word is never negative).
SLOT_WORD_BITS = 63
_WORD = (1 << SLOT_WORD_BITS) - 1


def mask_to_words(mask: int) -> list[int]:
    """A slot bitmask as bigint words, least significant first (empty for no slot)."""
    assert mask >= 0
    words = []
    while mask:
        words.append(mask & _WORD)
        mask >>= SLOT_WORD_BITS
    return words


def words_to_mask(words: Sequence[int]) -> int:
    """The inverse of :func:`mask_to_words`."""
    mask = 0
    for i, w in enumerate(words):
        assert 0 <= w <= _WORD
        mask |= int(w) << (SLOT_WORD_BITS * i)
    return mask


def quoted_array(values: Sequence[str]) -> str:
    """Array literal of strings that cannot contain quotes or backslashes (ids are checked)."""
    for v in values:
        if '"' in v or "\\" in v:
            raise ValueError(f"unquotable value {v!r}")
    return "{" + ",".join(f'"{v}"' for v in values) + "}"


def _text_mask(text: str) -> int:
    """A mask from its words as comma-separated text (one word holds 63 slots)."""
    if not text:
        return 0
    if "," not in text:
        return int(text)
    return words_to_mask([int(w) for w in text.split(",")])


def _words_literal(mask: int) -> str:
    return "{" + ",".join(str(w) for w in mask_to_words(mask)) + "}"


class TelemetryRepository:
    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def ensure_partitions(self, days: Sequence[int]) -> int:
        """Create the daily partitions of heartbeats for these unix days; returns how many."""
        created = 0
        for day in days:
            row = self.pg.execute("SELECT ensure_heartbeat_partition(%s)", (day,)).fetchone()
            created += bool(row[0])
        return created

    def insert_accepted(
        self, batch_id: int, received_at: dt.datetime, rows: list[tuple[Any, ...]]
    ) -> set[tuple[str, int]]:
        """Insert heartbeats whose (node_id, seq) was never accepted; returns those inserted.

        One statement: the seq registry decides (ON CONFLICT DO NOTHING), and only the rows it
        took are written to the partitioned raw table.
        """
        if not rows:
            return set()
        cols = list(zip(*rows, strict=True))
        node_ids = quoted_array(cols[0])
        args = (
            node_ids, int_array(cols[1]), int_array(cols[2]), int_array(cols[3]),
            "{" + ",".join("t" if v else "f" for v in cols[4]) + "}",
            *(int_array(cols[k]) for k in range(5, 10)),
            "{" + ",".join("NULL" if v is None else str(v) for v in cols[10]) + "}",
            "{" + ",".join(f'"\\\\x{v.hex()}"' for v in cols[11]) + "}",
            int_array(cols[12]),
        )  # fmt: skip
        cur = self.pg.execute(
            "WITH new AS (INSERT INTO heartbeat_seqs (node_id, seq) "
            " SELECT * FROM unnest(%s::text[], %s::bigint[]) ON CONFLICT DO NOTHING "
            " RETURNING node_id, seq) "
            "INSERT INTO heartbeats (node_id, seq, ts, epoch, up, gpu_util_ppm, latency_ms, "
            " jobs_ok, jobs_failed, bandwidth_mbps, user_rating, signature, batch_id, received_at, "
            " slot) "
            "SELECT h.node_id, h.seq, h.ts, h.epoch, h.up, h.gpu, h.lat, h.ok, h.failed, h.bw, "
            " h.rating, h.sig, %s, %s, h.slot "
            "FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bool[], "
            " %s::int[], %s::int[], %s::int[], %s::int[], %s::int[], %s::smallint[], "
            " %s::bytea[], %s::int[]) "
            "AS h(node_id, seq, ts, epoch, up, gpu, lat, ok, failed, bw, rating, sig, slot) "
            "JOIN new USING (node_id, seq) RETURNING node_id, seq",
            (args[0], args[1], batch_id, received_at, *args),
        )
        return {(r[0], int(r[1])) for r in cur.fetchall()}

    def accepted_seqs(self, keys: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which of these (node_id, seq) were accepted before (the seq registry)."""
        if not keys:
            return set()
        rows = self.pg.execute(
            "SELECT s.node_id, s.seq FROM heartbeat_seqs s "
            "JOIN unnest(%s::text[], %s::bigint[]) AS k(node_id, seq) USING (node_id, seq)",
            (quoted_array([k[0] for k in keys]), int_array(k[1] for k in keys)),
        ).fetchall()
        return {(r[0], int(r[1])) for r in rows}

    def next_batch_id(self) -> int:
        return int(self.pg.execute("SELECT nextval('telemetry_batch_ids')").fetchone()[0])

    def record_batch(self, batch_id: int, received_at: dt.datetime, accepted: int) -> None:
        self.pg.execute(
            "INSERT INTO telemetry_batches (id, received_at, accepted) VALUES (%s, %s, %s)",
            (batch_id, received_at, accepted),
        )

    def claim_batch(self, batch_id: int, now: dt.datetime) -> bool:
        """Mark a batch rolled up; False if it already was (the caller then does nothing)."""
        row = self.pg.execute(
            "UPDATE telemetry_batches SET rolled_at = %s WHERE id = %s AND rolled_at IS NULL "
            "RETURNING id",
            (now, batch_id),
        ).fetchone()
        return row is not None

    def batch_heartbeats(self, batch_id: int) -> list[StoredHeartbeat]:
        rows = self.pg.execute(
            f"SELECT {HB_COLUMNS} FROM heartbeats WHERE batch_id = %s", (batch_id,)
        ).fetchall()
        return [StoredHeartbeat(*r) for r in rows]

    def epoch_heartbeats(self, epoch: int, epoch_length_s: int) -> list[StoredHeartbeat]:
        """Raw heartbeats of one epoch (the ts range lets PostgreSQL prune partitions)."""
        lo = epoch * epoch_length_s
        rows = self.pg.execute(
            f"SELECT {HB_COLUMNS} FROM heartbeats WHERE ts >= %s AND ts < %s AND epoch = %s",
            (lo, lo + epoch_length_s, epoch),
        ).fetchall()
        return [StoredHeartbeat(*r) for r in rows]

    def add_to_rollups(
        self,
        counters: dict[tuple[int, str], list[int]],
        latency: dict[tuple[int, str, int], int],
        slots: dict[tuple[int, str], tuple[int, int]],
    ) -> None:
        """Add per-(epoch, node) counters and latency counts to the rollups, and OR in the
        (received, up) slot masks: every step commutes, so batch order cannot matter."""
        keys = sorted(counters)
        assert set(slots) == set(keys)
        sets = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in ROLLUP_COUNTERS)
        sets += (
            ", slots_received = slot_mask_or(r.slots_received, EXCLUDED.slots_received)"
            ", slots_up = slot_mask_or(r.slots_up, EXCLUDED.slots_up)"
        )
        arrays = ", ".join(["%s::bigint[]"] * len(ROLLUP_COUNTERS))
        with self.pg.pipeline():
            if keys:
                self.pg.execute(
                    f"INSERT INTO node_epoch_rollups AS r (epoch, node_id, "
                    f"{', '.join(ROLLUP_COUNTERS)}, slots_received, slots_up) "
                    f"SELECT e, n, {', '.join(f'c{i}' for i in range(len(ROLLUP_COUNTERS)))}, "
                    f"sr::bigint[], su::bigint[] FROM unnest(%s::bigint[], %s::text[], {arrays}, "
                    f"%s::text[], %s::text[]) AS t(e, n, "
                    f"{', '.join(f'c{i}' for i in range(len(ROLLUP_COUNTERS)))}, sr, su) "
                    f"ON CONFLICT (epoch, node_id) DO UPDATE SET {sets}",
                    (
                        int_array(k[0] for k in keys),
                        [k[1] for k in keys],
                        *(
                            int_array(counters[k][i] for k in keys)
                            for i in range(len(ROLLUP_COUNTERS))
                        ),
                        [_words_literal(slots[k][0]) for k in keys],
                        [_words_literal(slots[k][1]) for k in keys],
                    ),
                )
            lkeys = sorted(latency)
            if lkeys:
                self.pg.execute(
                    "INSERT INTO rollup_latency AS r (epoch, node_id, latency_ms, count) "
                    "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::int[]) "
                    "ON CONFLICT (epoch, node_id, latency_ms) DO UPDATE "
                    "SET count = r.count + EXCLUDED.count",
                    (
                        int_array(k[0] for k in lkeys),
                        [k[1] for k in lkeys],
                        int_array(k[2] for k in lkeys),
                        int_array(latency[k] for k in lkeys),
                    ),
                )

    def pending_batches(self, older_than: dt.datetime, limit: int) -> list[int]:
        rows = self.pg.execute(
            "SELECT id FROM telemetry_batches WHERE rolled_at IS NULL AND received_at < %s "
            "ORDER BY received_at LIMIT %s",
            (older_than, limit),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def epoch_rollup_rows(self, epoch: int) -> dict[str, tuple[dict[str, int], int, int]]:
        """Per node of the epoch: its counters, and its received and up slot masks."""
        # The masks travel as comma-separated text: parsing bigint[] arrays row by row costs
        # several times more at 100,000 nodes.
        cur = self.pg.execute(
            "SELECT node_id, array_to_string(slots_received, ','), "
            f"array_to_string(slots_up, ','), {', '.join(ROLLUP_COUNTERS)} "
            "FROM node_epoch_rollups WHERE epoch = %s",
            (epoch,),
        )
        return {
            r[0]: (
                dict(zip(ROLLUP_COUNTERS, map(int, r[3:]), strict=True)),
                _text_mask(r[1]),
                _text_mask(r[2]),
            )
            for r in cur.fetchall()
        }

    def epoch_latency(self, epoch: int) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for node_id, lat, count in self.pg.execute(
            "SELECT node_id, latency_ms, count FROM rollup_latency WHERE epoch = %s", (epoch,)
        ).fetchall():
            out.setdefault(node_id, {})[int(lat)] = int(count)
        return out

    def counts(self) -> dict[str, int]:
        row = self.pg.execute(
            "SELECT (SELECT count(*) FROM heartbeats), "
            "(SELECT count(*) FROM telemetry_batches WHERE rolled_at IS NULL)"
        ).fetchone()
        return {"heartbeats_stored": int(row[0]), "batches_pending_rollup": int(row[1])}
