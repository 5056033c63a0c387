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
from ledger.staking.domain import StakeEvent, UnbondingEntry, entry_remaining
from ledger.staking.domain.lifecycle import (
    ENTRY_HOLD,
    ENTRY_HOLD_VOIDED,
    ENTRY_REFUND,
    ENTRY_WITHDRAW,
)

#: Advisory-lock namespace of an owner's unbonding entries ("STKE").
ENTRIES_LOCK_NAMESPACE = 0x53544B45


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

    def lock_entries(self, owner: str) -> None:
        """Serialize, until the end of the transaction, everything that reads an owner's
        unbonding entries and then moves them (a withdrawal, a slash hold), so two of them
        never both take the same remaining amount."""
        self.lock_entries_of([owner])

    def lock_entries_of(self, owners: Sequence[str]) -> None:
        """:meth:`lock_entries` for many owners in one statement, in a fixed order (two callers
        locking overlapping sets never deadlock)."""
        self.pg.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(o)) FROM "
            "(SELECT DISTINCT unnest(%s::text[]) AS o ORDER BY 1) s",
            (ENTRIES_LOCK_NAMESPACE, list(owners)),
        )

    def bonded_movements(self, provider_id: str, before: dt.datetime) -> list[tuple[float, int]]:
        """The provider's posted ``stake_bonded`` movements before ``before``: (at, signed)."""
        return self.bonded_movements_of([provider_id], before).get(provider_id, [])

    def bonded_movements_of(
        self, providers: Sequence[str], before: dt.datetime
    ) -> dict[str, list[tuple[float, int]]]:
        """:meth:`bonded_movements` of many providers in one query: provider -> movements."""
        out: dict[str, list[tuple[float, int]]] = {}
        for owner, at, delta in self.pg.execute(
            "SELECT a.owner, t.created_at, (CASE WHEN t.credit_account_id = a.id THEN t.amount "
            "ELSE -t.amount END)::text FROM accounts a JOIN transfers t "
            "ON (t.credit_account_id = a.id OR t.debit_account_id = a.id) "
            "WHERE a.kind = 'stake_bonded' AND a.owner = ANY(%s::text[]) AND t.created_at < %s "
            "AND t.kind IN ('posted', 'post_pending', 'reversal')",
            (list(providers), before),
        ).fetchall():
            out.setdefault(owner, []).append((at.timestamp(), int(delta)))
        return out

    def unbonding_entries(self, provider_id: str) -> list[UnbondingEntry]:
        """The provider's unbonding entries (its ``unbond:`` transfers), each with what is left
        of it after the holds, voids, refunds and withdrawals that name it."""
        return self.unbonding_entries_of([provider_id]).get(provider_id, [])

    def unbonding_entries_of(self, owners: Sequence[str]) -> dict[str, list[UnbondingEntry]]:
        """:meth:`unbonding_entries` of many owners in two queries: owner -> entries, in the
        order they were requested."""
        owners = list(owners)
        entries = self.pg.execute(
            "SELECT a.owner, t.id, t.amount::text, extract(epoch FROM t.created_at), "
            "(t.metadata->>'withdrawable_at_s')::bigint FROM transfers t "
            "JOIN accounts a ON a.id = t.credit_account_id "
            "WHERE a.owner = ANY(%s::text[]) AND a.kind = 'stake_unbonding' AND t.code = %s "
            "ORDER BY t.seq",
            (owners, codes.STAKE_UNBOND),
        ).fetchall()
        moves: dict[str, list[tuple[str, int]]] = {}
        if entries:
            for entry_id, code, kind, amount in self.pg.execute(
                "SELECT t.metadata->>'unbond_transfer_id', t.code, t.kind, t.amount::text "
                "FROM transfers t JOIN accounts a "
                "ON (a.id = t.debit_account_id OR a.id = t.credit_account_id) "
                "WHERE a.owner = ANY(%s::text[]) AND a.kind = 'stake_unbonding' "
                "AND t.metadata ? 'unbond_transfer_id' UNION ALL "
                # Withdrawals made before entries were named pay the entry of the same request.
                "SELECT 'unbond:' || substr(t.id, 10), t.code, t.kind, t.amount::text "
                "FROM transfers t JOIN accounts a ON a.id = t.debit_account_id "
                "WHERE a.owner = ANY(%s::text[]) AND a.kind = 'stake_unbonding' AND t.code = %s "
                "AND NOT t.metadata ? 'unbond_transfer_id'",
                (owners, owners, codes.STAKE_WITHDRAW),
            ).fetchall():
                move = _ENTRY_MOVES.get((int(code), kind))
                if move is not None:
                    moves.setdefault(entry_id, []).append((move, int(amount)))
        out: dict[str, list[UnbondingEntry]] = {}
        for owner, eid, amount, at, ready in entries:
            out.setdefault(owner, []).append(
                UnbondingEntry(
                    eid,
                    int(float(at)),
                    int(float(at)) if ready is None else int(ready),
                    entry_remaining(int(amount), moves.get(eid, [])),
                )
            )
        return out

    def node_version_history(
        self, provider_id: str, before: dt.datetime
    ) -> list[tuple[str, float, str, bool]]:
        """The provider's node versions until ``before``: (node, at, type, active)."""
        return [
            (r[0], r[1].timestamp(), r[2], bool(r[3]))
            for r in self.pg.execute(
                "SELECT node_id, created_at, provider_type, status = 'active' FROM node_versions "
                "WHERE provider_id = %s AND created_at <= %s",
                (provider_id, before),
            ).fetchall()
        ]

    def entry_held(self, account_id: int, entry_id: str) -> bool:
        """Whether a pending slash hold on the entry (which debits its unbonding account, the
        indexed column) is still open: neither posted nor voided."""
        row = self.pg.execute(
            "SELECT 1 FROM transfers h WHERE h.debit_account_id = %s AND h.code = %s "
            "AND h.kind = 'pending' AND h.metadata->>'unbond_transfer_id' = %s "
            "AND NOT EXISTS (SELECT 1 FROM transfers r "
            "WHERE r.ref_id = h.id AND r.kind IN ('post_pending', 'void_pending')) LIMIT 1",
            (account_id, codes.SLASH_HOLD, entry_id),
        ).fetchone()
        return row is not None

    def withdrawals_of(self, account_id: int, entry_id: str) -> list[str]:
        """Ids of the withdrawals already made from an unbonding entry (they debit its
        unbonding account, the indexed column), oldest first."""
        return [
            r[0]
            for r in self.pg.execute(
                "SELECT id FROM transfers WHERE debit_account_id = %s AND code = %s "
                "AND metadata->>'unbond_transfer_id' = %s ORDER BY seq",
                (account_id, codes.STAKE_WITHDRAW, entry_id),
            ).fetchall()
        ]


#: (transfer code, kind) -> how the transfer moves the unbonding entry it names.
_ENTRY_MOVES = {
    (codes.SLASH_HOLD, "pending"): ENTRY_HOLD,
    (codes.SLASH_VOID, "void_pending"): ENTRY_HOLD_VOIDED,
    (codes.EXPIRED_PENDING, "void_pending"): ENTRY_HOLD_VOIDED,
    (codes.SLASH_REFUND, "posted"): ENTRY_REFUND,
    (codes.STAKE_WITHDRAW, "posted"): ENTRY_WITHDRAW,
}
