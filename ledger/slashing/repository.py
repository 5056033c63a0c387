"""All of slashing's SQL: violations, penalties and their settlement events, appeals and their
votes, and approved releases of jailed nodes (all append-only).

A penalty's current status is the status of its settlement event (``executed`` / ``voided``)
if it has one, else the status it was decided with (``warning`` / ``pending``, i.e.
``SlashStatus.WARNING`` / ``SlashStatus.HELD``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from psycopg.types.json import Jsonb
from sqlalchemy import Connection

from ledger.kit.db import driver
from ledger.slashing.domain import SlashStatus, ViolationClass, ViolationKind

#: Advisory-lock namespace of slashing decisions and settlements ("SLSH").
SLASHING_LOCK_NAMESPACE = 0x534C5348


@dataclass(frozen=True, slots=True)
class PenaltyRow:
    id: str
    violation_id: str
    node_id: str
    provider_id: str
    kind: ViolationKind
    klass: ViolationClass
    infraction_epoch: int
    infraction_at_s: int
    outcome: str
    offence_number: int
    slash_fraction_ppm: int
    stake_at_risk_base_units: int
    slash_base_units: int
    from_rewards_base_units: int
    from_stake_base_units: int
    jail_until_s: int | None
    tombstone: bool
    appeal_deadline_s: int
    status: SlashStatus
    rule: str
    decided_at: dt.datetime
    settled_at: dt.datetime | None
    document: dict[str, Any]


PENALTY_SELECT = (
    "SELECT p.id, p.violation_id, p.node_id, p.provider_id, p.kind, p.klass, "
    "p.infraction_epoch, p.infraction_at_s, p.outcome, p.offence_number, p.slash_fraction_ppm, "
    "p.stake_at_risk_base_units::text, p.slash_base_units::text, "
    "p.from_rewards_base_units::text, p.from_stake_base_units::text, p.jail_until_s, "
    "p.tombstone, p.appeal_deadline_s, coalesce(o_.status, e.status, p.status), p.rule, "
    "p.decided_at, coalesce(o_.at, e.at), p.document "
    "FROM slash_penalties p LEFT JOIN slash_penalty_events e ON e.penalty_id = p.id "
    "LEFT JOIN (SELECT penalty_id, 'overturned' AS status, at FROM slash_penalty_overturns) o_ "
    "ON o_.penalty_id = p.id "
)


_INSERT_VIOLATION = (
    "INSERT INTO slash_violations (id, node_id, provider_id, kind, klass, "
    "infraction_epoch, infraction_at_s, evidence, evidence_digest, severity, "
    "severity_units, duplicate_count, waived, waiver, recorded_at) VALUES (%(id)s, "
    "%(node_id)s, %(provider_id)s, %(kind)s, %(klass)s, %(infraction_epoch)s, "
    "%(infraction_at_s)s, %(evidence)s, %(evidence_digest)s, %(severity)s, "
    "%(severity_units)s, %(duplicate_count)s, %(waived)s, %(waiver)s, %(recorded_at)s) "
    "ON CONFLICT (id) DO NOTHING"
)
_INSERT_PENALTY = (
    "INSERT INTO slash_penalties (id, violation_id, node_id, provider_id, kind, klass, "
    "infraction_epoch, infraction_at_s, outcome, offence_number, slash_fraction_ppm, "
    "stake_at_risk_base_units, slash_base_units, from_rewards_base_units, "
    "from_stake_base_units, jail_until_s, tombstone, appeal_deadline_s, status, rule, "
    "decided_at, document) VALUES (%(id)s, %(violation_id)s, %(node_id)s, "
    "%(provider_id)s, %(kind)s, %(klass)s, %(infraction_epoch)s, %(infraction_at_s)s, "
    "%(outcome)s, %(offence_number)s, %(slash_fraction_ppm)s, "
    "%(stake_at_risk_base_units)s, %(slash_base_units)s, %(from_rewards_base_units)s, "
    "%(from_stake_base_units)s, %(jail_until_s)s, %(tombstone)s, %(appeal_deadline_s)s, "
    "%(status)s, %(rule)s, %(decided_at)s, %(document)s) ON CONFLICT (id) DO NOTHING"
)


#: Column types of the batch inserts (``jsonb_to_recordset`` needs them).
_VIOLATION_COLUMNS = (
    "id text, node_id text, provider_id text, kind text, klass text, infraction_epoch bigint, "
    "infraction_at_s bigint, evidence jsonb, evidence_digest text, severity text, "
    "severity_units integer, duplicate_count integer, waived boolean, waiver jsonb, "
    "recorded_at timestamptz"
)
_PENALTY_COLUMNS = (
    "id text, violation_id text, node_id text, provider_id text, kind text, klass text, "
    "infraction_epoch bigint, infraction_at_s bigint, outcome text, offence_number integer, "
    "slash_fraction_ppm bigint, stake_at_risk_base_units numeric, slash_base_units numeric, "
    "from_rewards_base_units numeric, from_stake_base_units numeric, jail_until_s bigint, "
    "tombstone boolean, appeal_deadline_s bigint, status text, rule text, "
    "decided_at timestamptz, document jsonb"
)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _insert_json(pg: Any, table: str, typed_columns: str, rows: Sequence[dict[str, Any]]) -> None:
    """``INSERT ... ON CONFLICT (id) DO NOTHING`` of many rows in one statement: the rows as
    one JSON array (PostgreSQL parses it far faster than it runs one INSERT per row)."""
    if not rows:
        return
    names = ", ".join(c.split()[0] for c in typed_columns.split(", "))
    # The standard library's encoder: amounts beyond 64 bits stay JSON numbers (as Jsonb
    # stores them one row at a time), which orjson refuses.
    payload = json.dumps(rows, separators=(",", ":"), default=_json_default)
    pg.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM "
        f"jsonb_to_recordset(%s::jsonb) AS x({typed_columns}) ON CONFLICT (id) DO NOTHING",
        (payload,),
    )


def _penalty_row(r: Sequence[Any]) -> PenaltyRow:
    return PenaltyRow(
        r[0], r[1], r[2], r[3], ViolationKind(r[4]), ViolationClass(r[5]), int(r[6]), int(r[7]),
        r[8], int(r[9]), int(r[10]), int(r[11]), int(r[12]), int(r[13]), int(r[14]),
        None if r[15] is None else int(r[15]), bool(r[16]), int(r[17]), SlashStatus(r[18]),
        r[19], r[20], r[21], dict(r[22]),
    )  # fmt: skip


class SlashingRepository:
    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def lock(self) -> None:
        """Serialize slashing writers until the end of the transaction: the ladder of a node
        counts earlier decisions, and a penalty is executed or voided once."""
        self.pg.execute("SELECT pg_advisory_xact_lock(%s, 0)", (SLASHING_LOCK_NAMESPACE,))

    # --- violations ---------------------------------------------------------------------------

    def insert_violation(self, v: dict[str, Any]) -> bool:
        """Record a violation; False when its id was already recorded (nothing changes)."""
        cur = self.pg.execute(
            _INSERT_VIOLATION,
            {
                **v,
                "evidence": Jsonb(v["evidence"]),
                "waiver": None if v["waiver"] is None else Jsonb(v["waiver"]),
            },
        )
        return bool(cur.rowcount)

    def insert_violations(self, values: Sequence[dict[str, Any]]) -> None:
        """Record many violations in one statement (ids already recorded are left): the rows
        go as one JSON array, unpacked by ``jsonb_to_recordset``."""
        _insert_json(self.pg, "slash_violations", _VIOLATION_COLUMNS, values)

    def get_violation(self, violation_id: str) -> dict[str, Any] | None:
        """A recorded violation by id (its columns), or None."""
        cur = self.pg.execute(
            "SELECT id, node_id, kind, infraction_epoch, infraction_at_s, evidence "
            "FROM slash_violations WHERE id = %s",
            (violation_id,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d.name for d in cur.description], row, strict=True))

    def under_stake_recorded(self, node_id: str, since_s: int) -> bool:
        row = self.pg.execute(
            "SELECT 1 FROM slash_violations WHERE node_id = %s AND kind = 'under_stake' "
            "AND infraction_at_s = %s",
            (node_id, since_s),
        ).fetchone()
        return row is not None

    def violations_of_node(self, node_id: str, limit: int) -> list[dict[str, Any]]:
        """Every recorded violation of the node, newest first, waived ones with their waiver."""
        cur = self.pg.execute(
            "SELECT id, kind, klass, infraction_epoch, infraction_at_s, evidence, "
            "evidence_digest, waived, waiver, recorded_at FROM slash_violations "
            "WHERE node_id = %s ORDER BY infraction_at_s DESC, id LIMIT %s",
            (node_id, limit),
        )
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # --- penalties ----------------------------------------------------------------------------

    def insert_penalty(self, p: dict[str, Any]) -> bool:
        cur = self.pg.execute(_INSERT_PENALTY, {**p, "document": Jsonb(p["document"])})
        return bool(cur.rowcount)

    def insert_penalties(self, values: Sequence[dict[str, Any]]) -> list[PenaltyRow]:
        """Record many decided penalties in one statement (as :meth:`insert_violations`) and
        return them as rows, as :meth:`get_penalty` would read them back (none is settled yet;
        the document as JSON gives it back). The caller has checked none is recorded yet."""
        _insert_json(self.pg, "slash_penalties", _PENALTY_COLUMNS, values)
        return [
            _penalty_row(
                [v[c.split()[0]] for c in _PENALTY_COLUMNS.split(", ")[:-1]]
                + [None, json.loads(json.dumps(v["document"], default=_json_default))]
            )
            for v in values
        ]

    def decided_violations(self, violation_ids: Sequence[str]) -> set[str]:
        """The violations among ``violation_ids`` that already have a penalty."""
        rows = self.pg.execute(
            "SELECT violation_id FROM slash_penalties WHERE violation_id = ANY(%s::text[])",
            (list(violation_ids),),
        ).fetchall()
        return {r[0] for r in rows}

    def get_penalty(self, penalty_id: str) -> PenaltyRow | None:
        row = self.pg.execute(PENALTY_SELECT + "WHERE p.id = %s", (penalty_id,)).fetchone()
        return _penalty_row(row) if row else None

    def penalty_of_violation(self, violation_id: str) -> PenaltyRow | None:
        row = self.pg.execute(
            PENALTY_SELECT + "WHERE p.violation_id = %s", (violation_id,)
        ).fetchone()
        return _penalty_row(row) if row else None

    def reversed_penalties(self) -> list[PenaltyRow]:
        """Every penalty voided or overturned, in the order it was reversed."""
        rows = self.pg.execute(
            PENALTY_SELECT + "WHERE o_.penalty_id IS NOT NULL OR e.status = 'voided' "
            "ORDER BY coalesce(o_.at, e.at), p.id"
        ).fetchall()
        return [_penalty_row(r) for r in rows]

    def penalties_of_node(self, node_id: str) -> list[PenaltyRow]:
        rows = self.pg.execute(
            PENALTY_SELECT + "WHERE p.node_id = %s ORDER BY p.infraction_at_s, p.id", (node_id,)
        ).fetchall()
        return [_penalty_row(r) for r in rows]

    def offence_history(
        self, node_id: str, klass: str, before_epoch: int
    ) -> list[tuple[int, bool]]:
        """(infraction_at_s, counted) of the node's decided offences of ``klass`` in epochs
        before ``before_epoch``; a voided or overturned penalty is not counted."""
        return self.offence_histories([node_id], klass, before_epoch).get(node_id, [])

    def offence_histories(
        self, node_ids: Sequence[str], klass: str, before_epoch: int
    ) -> dict[str, list[tuple[int, bool]]]:
        """:meth:`offence_history` of many nodes in one query: node -> its offences."""
        out: dict[str, list[tuple[int, bool]]] = {}
        for node_id, at_s, counted in self.pg.execute(
            "SELECT p.node_id, p.infraction_at_s, e.status IS DISTINCT FROM 'voided' AND NOT "
            "EXISTS (SELECT 1 FROM slash_penalty_overturns o WHERE o.penalty_id = p.id) "
            "FROM slash_penalties p LEFT JOIN slash_penalty_events e ON e.penalty_id = p.id "
            "WHERE p.node_id = ANY(%s::text[]) AND p.klass = %s AND p.infraction_epoch < %s",
            (list(node_ids), klass, before_epoch),
        ).fetchall():
            out.setdefault(node_id, []).append((int(at_s), bool(counted)))
        return out

    def count_penalties(self, node_id: str, kind: str) -> int:
        """The node's earlier penalties of ``kind`` that are final: executed and not overturned.

        A penalty still in its appeal window does not count (issue 15, point 6): a repeat is
        decided only against decisions that can no longer be voided, so a void never leaves
        behind a tombstone that counted it."""
        row = self.pg.execute(
            "SELECT count(*) FROM slash_penalties p "
            "JOIN slash_penalty_events e ON e.penalty_id = p.id "
            "WHERE p.node_id = %s AND p.kind = %s AND e.status = 'executed' "
            "AND NOT EXISTS (SELECT 1 FROM slash_penalty_overturns o WHERE o.penalty_id = p.id)",
            (node_id, kind),
        ).fetchone()
        return int(row[0])

    def incident_of(self, node_id: str, kind: str, evidence_digest: str) -> str | None:
        """The id of the first violation recorded for this node, kind and evidence (the
        incident's identity is its evidence, whatever time a report names), or None."""
        row = self.pg.execute(
            "SELECT id FROM slash_violations WHERE node_id = %s AND kind = %s "
            "AND evidence_digest = %s ORDER BY recorded_at, id LIMIT 1",
            (node_id, kind, evidence_digest),
        ).fetchone()
        return None if row is None else str(row[0])

    def insert_overturn(self, penalty_id: str, at: dt.datetime, document: dict[str, Any]) -> bool:
        """Mark an executed penalty overturned (once)."""
        cur = self.pg.execute(
            "INSERT INTO slash_penalty_overturns (penalty_id, at, document) VALUES (%s, %s, %s) "
            "ON CONFLICT (penalty_id) DO NOTHING",
            (penalty_id, at, Jsonb(document)),
        )
        return bool(cur.rowcount)

    def overturn_document(self, penalty_id: str) -> dict[str, Any]:
        row = self.pg.execute(
            "SELECT document FROM slash_penalty_overturns WHERE penalty_id = %s", (penalty_id,)
        ).fetchone()
        return {} if row is None else dict(row[0])

    def penalties_of_kind(self, kind: str) -> list[PenaltyRow]:
        rows = self.pg.execute(
            PENALTY_SELECT + " WHERE p.kind = %s ORDER BY p.decided_at, p.id", (kind,)
        ).fetchall()
        return [_penalty_row(r) for r in rows]

    def due_penalty_ids(self, now_s: int, limit: int, quorum: int) -> list[tuple[str, bool]]:
        """(id, appealed) of pending penalties (not settled) whose appeal deadline has passed,
        oldest first.

        An appealed slash waits for the governors: it is a candidate only once ``quorum`` of
        them voted to uphold it; the caller decides the appeal itself (the domain's
        ``decide_appeal``: the void side below quorum, votes of current governors only).
        """
        rows = self.pg.execute(
            "SELECT p.id, EXISTS (SELECT 1 FROM slash_appeals a WHERE a.penalty_id = p.id) "
            "FROM slash_penalties p WHERE p.status = 'pending' "
            "AND p.appeal_deadline_s <= %s AND NOT EXISTS "
            "(SELECT 1 FROM slash_penalty_events e WHERE e.penalty_id = p.id) "
            "AND (NOT EXISTS (SELECT 1 FROM slash_appeals a WHERE a.penalty_id = p.id) "
            " OR (SELECT count(*) FROM slash_appeal_votes v WHERE v.penalty_id = p.id "
            "     AND v.vote = 'uphold') >= %s) "
            "ORDER BY p.appeal_deadline_s, p.id LIMIT %s",
            (now_s, quorum, limit),
        ).fetchall()
        return [(r[0], bool(r[1])) for r in rows]

    def insert_event(
        self, penalty_id: str, status: str, at: dt.datetime, document: dict[str, Any]
    ) -> bool:
        """Settle a penalty; False when it was already settled (one settlement per penalty)."""
        cur = self.pg.execute(
            "INSERT INTO slash_penalty_events (penalty_id, status, at, document) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (penalty_id) DO NOTHING",
            (penalty_id, status, at, Jsonb(document)),
        )
        return bool(cur.rowcount)

    # --- the standing replay ------------------------------------------------------------------

    def facts_of_penalties_before(
        self, cutoff: dt.datetime
    ) -> list[tuple[str, dict[str, Any], dt.datetime, str | None, dt.datetime | None]]:
        """(node_id, document, decided_at, settlement status, settled at) of every penalty
        decided before ``cutoff``, in decision order (status and time None while unsettled)."""
        return [
            (r[0], r[1], r[2], r[3], r[4])
            for r in self.pg.execute(
                "SELECT p.node_id, p.document, p.decided_at, coalesce(o.status, e.status), "
                "coalesce(o.at, e.at) FROM slash_penalties p "
                "LEFT JOIN slash_penalty_events e ON e.penalty_id = p.id "
                "LEFT JOIN (SELECT penalty_id, 'overturned' AS status, at "
                " FROM slash_penalty_overturns) o ON o.penalty_id = p.id "
                "WHERE p.decided_at < %s ORDER BY p.decided_at, p.id",
                (cutoff,),
            ).fetchall()
        ]

    def unclean_node_epochs(
        self, node_ids: Sequence[str], before_epoch: int
    ) -> set[tuple[str, int]]:
        """(node_id, epoch) of the nodes' epochs before ``before_epoch`` with a counted (not
        waived) violation."""
        return {
            (r[0], int(r[1]))
            for r in self.pg.execute(
                "SELECT DISTINCT node_id, infraction_epoch FROM slash_violations "
                "WHERE node_id = ANY(%s::text[]) AND NOT waived AND infraction_epoch < %s",
                (node_ids, before_epoch),
            ).fetchall()
        }

    # --- releases -----------------------------------------------------------------------------

    def insert_release(
        self, node_id: str, kind: str, approved_at: dt.datetime, reference: str
    ) -> int:
        """Record an approved review or passed compliance check; its id, or 0 when the
        reference (the idempotency key) was already recorded."""
        row = self.pg.execute(
            "INSERT INTO node_releases (node_id, kind, approved_at, reference) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (reference) DO NOTHING RETURNING id",
            (node_id, kind, approved_at, reference),
        ).fetchone()
        return int(row[0]) if row else 0

    def releases_before(
        self, node_ids: Sequence[str], cutoff: dt.datetime
    ) -> list[tuple[str, str, dt.datetime]]:
        """(node_id, kind, approved_at) of the nodes' releases approved before ``cutoff``."""
        return [
            (r[0], r[1], r[2])
            for r in self.pg.execute(
                "SELECT node_id, kind, approved_at FROM node_releases "
                "WHERE node_id = ANY(%s::text[]) AND approved_at < %s",
                (node_ids, cutoff),
            ).fetchall()
        ]

    # --- appeals ------------------------------------------------------------------------------

    def insert_appeal(
        self, penalty_id: str, filed_at: dt.datetime, counter_evidence: Mapping[str, str]
    ) -> None:
        """Record the appeal of a penalty; a second appeal of it changes nothing."""
        self.pg.execute(
            "INSERT INTO slash_appeals (penalty_id, filed_at, counter_evidence) "
            "VALUES (%s, %s, %s) ON CONFLICT (penalty_id) DO NOTHING",
            (penalty_id, filed_at, orjson.dumps(dict(counter_evidence)).decode()),
        )

    def get_appeal(self, penalty_id: str) -> tuple[dt.datetime, dict[str, str]] | None:
        """(filed_at, counter_evidence) of the penalty's appeal, or None."""
        row = self.pg.execute(
            "SELECT filed_at, counter_evidence FROM slash_appeals WHERE penalty_id = %s",
            (penalty_id,),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def appeal_votes(self, penalty_id: str) -> dict[str, str]:
        """Governor -> vote of the penalty's appeal, ordered by governor."""
        return dict(
            self.pg.execute(
                "SELECT governor, vote FROM slash_appeal_votes WHERE penalty_id = %s "
                "ORDER BY governor",
                (penalty_id,),
            ).fetchall()
        )

    def insert_vote(self, penalty_id: str, governor: str, vote: str, cast_at: dt.datetime) -> None:
        """Record a governor's vote; a vote already recorded is kept as it is."""
        self.pg.execute(
            "INSERT INTO slash_appeal_votes (penalty_id, governor, vote, cast_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (penalty_id, governor, vote, cast_at),
        )
