"""All of staking's SQL: the facts (bonds, stake movements, node versions) as of a time.

Decisions made from these facts (lock tiers, under-stake streaks, unbonding periods) are in
``ledger.staking.domain``; this module only loads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection

from ledger.accounting.domain import codes
from ledger.kit.db import driver
from ledger.staking.domain import StakeEvent


class StakingRepository:
    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def locked_bonds_as_of(self, as_of: dt.datetime) -> dict[str, list[tuple[int, int]]]:
        """Per provider, bonds still inside their commitment lock at ``as_of``:
        (lock length in seconds, amount)."""
        rows = self.pg.execute(
            "SELECT a.owner, (t.metadata->>'locked_until_s')::bigint "
            " - extract(epoch FROM t.created_at)::bigint, t.amount::text "
            "FROM transfers t JOIN accounts a ON a.id = t.credit_account_id "
            "WHERE a.kind = 'stake_bonded' AND t.code = %s AND t.created_at < %s "
            "AND (t.metadata->>'locked_until_s')::bigint > extract(epoch FROM %s::timestamptz)",
            (codes.STAKE_BOND, as_of, as_of),
        ).fetchall()
        out: dict[str, list[tuple[int, int]]] = {}
        for owner, lock_s, amount in rows:
            out.setdefault(owner, []).append((int(lock_s), int(amount)))
        return out

    def locked_stake(self, provider_id: str, now: dt.datetime) -> int:
        """Stake of the provider still inside its commitment lock at ``now``."""
        row = self.pg.execute(
            "SELECT coalesce(sum(t.amount), 0)::text FROM transfers t "
            "JOIN accounts a ON a.id = t.credit_account_id "
            "WHERE a.owner = %s AND a.kind = 'stake_bonded' AND t.code = %s "
            "AND (t.metadata->>'locked_until_s')::bigint > %s",
            (provider_id, codes.STAKE_BOND, int(now.timestamp())),
        ).fetchone()
        return int(row[0])

    def bonded_stake_as_of(self, as_of: dt.datetime) -> dict[str, int]:
        """Each provider's bonded stake at ``as_of``, summed from the ledger's transfers."""
        rows = self.pg.execute(
            "SELECT a.owner, (coalesce(sum(t.amount) FILTER (WHERE t.credit_account_id = a.id), 0)"
            " - coalesce(sum(t.amount) FILTER (WHERE t.debit_account_id = a.id), 0))::text "
            "FROM accounts a JOIN transfers t ON (t.credit_account_id = a.id "
            " OR t.debit_account_id = a.id) "
            "WHERE a.kind = 'stake_bonded' AND t.created_at < %s "
            " AND t.kind IN ('posted', 'post_pending', 'reversal') GROUP BY a.owner",
            (as_of,),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def stake_events(
        self, providers: Sequence[str], as_of: dt.datetime
    ) -> dict[str, list[StakeEvent]]:
        """Per provider, until ``as_of``: its posted bonded-stake movements and its nodes'
        versions (each with the node's required stake and whether it is active)."""
        events: dict[str, list[StakeEvent]] = {}
        if not providers:
            return events
        for owner, at, delta in self.pg.execute(
            "SELECT a.owner, t.created_at, (CASE WHEN t.credit_account_id = a.id THEN t.amount "
            "ELSE -t.amount END)::text FROM accounts a JOIN transfers t "
            "ON (t.credit_account_id = a.id OR t.debit_account_id = a.id) "
            "WHERE a.kind = 'stake_bonded' AND a.owner = ANY(%s::text[]) AND t.created_at < %s "
            "AND t.kind IN ('posted', 'post_pending', 'reversal')",
            (list(providers), as_of),
        ).fetchall():
            events.setdefault(owner, []).append(
                StakeEvent(at.timestamp(), 0, "", int(delta), False)
            )
        for owner, node_id, at, need, active in self.pg.execute(
            "SELECT provider_id, node_id, created_at, required_stake_base_units::text, "
            "status = 'active' FROM node_versions "
            "WHERE provider_id = ANY(%s::text[]) AND created_at < %s",
            (list(providers), as_of),
        ).fetchall():
            events.setdefault(owner, []).append(
                StakeEvent(at.timestamp(), 1, node_id, int(need), bool(active))
            )
        return events

    def active_node_types(self, provider_id: str) -> set[str]:
        """The provider types of the provider's active nodes now."""
        return {
            r[0]
            for r in self.pg.execute(
                "SELECT DISTINCT provider_type FROM nodes "
                "WHERE provider_id = %s AND status = 'active'",
                (provider_id,),
            ).fetchall()
        }
