"""The SQL of the steps after a close: which epochs were evaluated, and who holds an epoch now.

Beat's sweeps read these to re-enqueue work whose message was lost or whose worker died: a
close or an evaluation in progress holds its advisory lock (PostgreSQL drops it with the
connection of a killed worker), so "not done and not locked" means "must be redone".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection

from ledger.kit.db import EPOCH_CLOSE_LOCK_NAMESPACE, driver

#: Advisory lock namespaces: the close's (shared with the rewards repository), "SWEV" evaluation.
CLOSE_LOCK_NAMESPACE = EPOCH_CLOSE_LOCK_NAMESPACE
EVALUATE_LOCK_NAMESPACE = 0x53574556


class StepsRepository:
    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def is_locked(self, namespace: int, epoch: int) -> bool:
        """True if another transaction holds ``(namespace, epoch)`` now (never waits; a lock
        taken here is released at the end of the caller's transaction)."""
        row = self.pg.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)", (namespace, epoch)
        ).fetchone()
        assert row is not None
        return not row[0]

    def lock_evaluation(self, epoch: int) -> None:
        """Serialize evaluators of the same epoch until the end of the transaction."""
        self.pg.execute("SELECT pg_advisory_xact_lock(%s, %s)", (EVALUATE_LOCK_NAMESPACE, epoch))

    def is_evaluated(self, epoch: int) -> bool:
        row = self.pg.execute("SELECT 1 FROM epoch_evaluations WHERE epoch = %s", (epoch,))
        return row.fetchone() is not None

    def mark_evaluated(self, epoch: int, penalties: int, now: dt.datetime) -> None:
        self.pg.execute(
            "INSERT INTO epoch_evaluations (epoch, penalties, evaluated_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (epoch) DO NOTHING",
            (epoch, penalties, now),
        )

    def unevaluated(self, newest: int) -> list[int]:
        """Closed epochs among the ``newest`` closed ones with no evaluation, oldest first."""
        rows = self.pg.execute(
            "SELECT e.epoch FROM (SELECT epoch FROM reward_epochs ORDER BY epoch DESC LIMIT %s) e "
            "LEFT JOIN epoch_evaluations v ON v.epoch = e.epoch WHERE v.epoch IS NULL "
            "ORDER BY e.epoch",
            (newest,),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def evaluated_after(self, after: int, limit: int) -> list[tuple[int, int, int, int, bytes,
                                                                     int, int]]:  # fmt: skip
        """(epoch, pool, nodes paid, nodes, root, violations, penalties) of evaluated epochs
        after ``after``, oldest first."""
        rows = self.pg.execute(
            "SELECT r.epoch, r.pool_base_units, "
            "(SELECT count(*) FROM reward_receipts c WHERE c.epoch = r.epoch "
            "AND c.amount_base_units > 0), r.node_count, r.merkle_root, "
            "(SELECT count(*) FROM slash_violations s WHERE s.infraction_epoch = r.epoch), "
            "(SELECT count(*) FROM slash_penalties p WHERE p.infraction_epoch = r.epoch) "
            "FROM reward_epochs r JOIN epoch_evaluations v ON v.epoch = r.epoch "
            "WHERE r.epoch > %s ORDER BY r.epoch LIMIT %s",
            (after, limit),
        ).fetchall()
        return [(int(a), int(b), int(c), int(d), bytes(e), int(f), int(g))
                for a, b, c, d, e, f, g in rows]  # fmt: skip


#: "SWRS": one restorer per (penalty, epoch) at a time (keyed by the epoch; the penalty is
#: checked again under the lock).
RESTORE_LOCK_NAMESPACE = 0x53575253


class RestorationsRepository:
    """The rewards reversed penalties cost, restored per closed epoch (``reward_restorations``)."""

    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def lock(self, epoch: int) -> None:
        self.pg.execute("SELECT pg_advisory_xact_lock(%s, %s)", (RESTORE_LOCK_NAMESPACE, epoch))

    def done(self) -> set[tuple[str, int]]:
        """(penalty, epoch) of every restoration recorded."""
        rows = self.pg.execute("SELECT penalty_id, epoch FROM reward_restorations").fetchall()
        return {(r[0], int(r[1])) for r in rows}

    def get(self, penalty_id: str, epoch: int) -> dict[str, Any] | None:
        rows = self._select("WHERE penalty_id = %s AND epoch = %s", (penalty_id, epoch))
        return rows[0] if rows else None

    def of_penalty(self, penalty_id: str) -> list[dict[str, Any]]:
        return self._select("WHERE penalty_id = %s ORDER BY epoch", (penalty_id,))

    def restored_to(self, node_id: str, epoch: int) -> int:
        """What earlier restorations already paid ``node_id`` for ``epoch``."""
        row = self.pg.execute(
            "SELECT coalesce(sum(restored_base_units), 0)::text FROM reward_restorations "
            "WHERE node_id = %s AND epoch = %s",
            (node_id, epoch),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def insert(self, values: dict[str, Any]) -> None:
        self.pg.execute(
            "INSERT INTO reward_restorations (penalty_id, epoch, node_id, provider_id, "
            "paid_base_units, fair_base_units, restored_base_units, transfer_id, fair_standing, "
            "receipt, restored_at) VALUES (%(penalty_id)s, %(epoch)s, %(node_id)s, "
            "%(provider_id)s, %(paid)s, %(fair)s, %(restored)s, %(transfer_id)s, "
            "%(fair_standing)s, %(receipt)s, %(restored_at)s)",
            {
                **values,
                "fair_standing": Jsonb(values["fair_standing"]),
                "receipt": None if values["receipt"] is None else Jsonb(values["receipt"]),
            },
        )

    def _select(self, where: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        rows = self.pg.execute(
            "SELECT penalty_id, epoch, node_id, provider_id, paid_base_units::text, "
            "fair_base_units::text, restored_base_units::text, transfer_id, fair_standing, "
            "receipt, restored_at FROM reward_restorations " + where,
            args,
        ).fetchall()
        return [
            {
                "penalty_id": r[0], "epoch": int(r[1]), "node_id": r[2], "provider_id": r[3],
                "paid_base_units": int(r[4]), "fair_base_units": int(r[5]),
                "restored_base_units": int(r[6]), "transfer_id": r[7], "fair_standing": r[8],
                "receipt": r[9], "restored_at": r[10],
            }
            for r in rows
        ]  # fmt: skip
