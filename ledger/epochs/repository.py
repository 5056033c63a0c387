"""The SQL of the steps after a close: which epochs were evaluated, and who holds an epoch now.

Beat's sweeps read these to re-enqueue work whose message was lost or whose worker died: a
close or an evaluation in progress holds its advisory lock (PostgreSQL drops it with the
connection of a killed worker), so "not done and not locked" means "must be redone".
"""

from __future__ import annotations

import datetime as dt

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
