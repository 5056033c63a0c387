"""SQL for reward epochs, receipts and merkle leaves (bulk writes use COPY)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from ledger.accounting.domain import codes
from ledger.kit.db import EPOCH_CLOSE_LOCK_NAMESPACE, copy_escape, copy_text, driver

#: Advisory-lock namespace of epoch closing ("SWRD").
EPOCH_LOCK_NAMESPACE = EPOCH_CLOSE_LOCK_NAMESPACE


@dataclass(frozen=True, slots=True)
class EpochRow:
    epoch: int
    pool_base_units: int
    distributed_base_units: int
    undistributed_base_units: int
    scale_ppm: int
    node_count: int
    eligible_nodes: int
    params_version: int
    params_hash: str
    calculator_version: str
    inputs_digest: str
    merkle_root: bytes
    provenance_digest: str
    leaf_count: int
    closed_at: dt.datetime


EPOCH_COLUMNS = (
    "epoch, pool_base_units::text, distributed_base_units::text, undistributed_base_units::text, "
    "scale_ppm, node_count, eligible_nodes, params_version, params_hash, calculator_version, "
    "inputs_digest, merkle_root, provenance_digest, leaf_count, closed_at"
)


def _epoch_row(r: Sequence[Any]) -> EpochRow:
    return EpochRow(
        int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7]),
        r[8], r[9], r[10], bytes(r[11]), r[12], int(r[13]), r[14],
    )  # fmt: skip


class RewardsRepository:
    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def lock_epoch(self, epoch: int) -> None:
        """Serialize closers of the same epoch until the end of the transaction."""
        self.pg.execute("SELECT pg_advisory_xact_lock(%s, %s)", (EPOCH_LOCK_NAMESPACE, epoch))

    def get_epoch(self, epoch: int) -> EpochRow | None:
        row = self.pg.execute(
            f"SELECT {EPOCH_COLUMNS} FROM reward_epochs WHERE epoch = %s", (epoch,)
        ).fetchone()
        return _epoch_row(row) if row else None

    def epoch_conditions(self, epoch: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The epoch's scale factors and the network conditions (with the price feed) they
        came from, as stored at its close."""
        row = self.pg.execute(
            "SELECT scale, network FROM reward_epochs WHERE epoch = %s", (epoch,)
        ).fetchone()
        return (dict(row[0]), dict(row[1])) if row else None

    def last_closed(self) -> EpochRow | None:
        row = self.pg.execute(
            f"SELECT {EPOCH_COLUMNS} FROM reward_epochs ORDER BY epoch DESC LIMIT 1"
        ).fetchone()
        return _epoch_row(row) if row else None

    def cumulative_before(self, epoch: int) -> dict[str, int]:
        """Each provider's cumulative earnings as of the last closed epoch before ``epoch``."""
        rows = self.pg.execute(
            "SELECT provider_id, cumulative_base_units::text FROM reward_leaves "
            "WHERE epoch = (SELECT max(epoch) FROM reward_epochs WHERE epoch < %s)",
            (epoch,),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def insert_epoch(self, values: dict[str, Any]) -> None:
        self.pg.execute(
            "INSERT INTO reward_epochs (epoch, pool_base_units, distributed_base_units, "
            "undistributed_base_units, scale_ppm, scale, network, total_weight, node_count, "
            "eligible_nodes, params_version, params_hash, calculator_version, inputs_digest, "
            "merkle_root, provenance_digest, leaf_count, receipt_fields, closed_at) "
            "VALUES (%(epoch)s, "
            "%(pool)s, %(distributed)s, %(undistributed)s, %(scale_ppm)s, %(scale)s::jsonb, "
            "%(network)s::jsonb, %(total_weight)s, %(node_count)s, %(eligible_nodes)s, "
            "%(params_version)s, %(params_hash)s, %(calculator_version)s, %(inputs_digest)s, "
            "%(root)s, %(provenance)s, %(leaf_count)s, %(receipt_fields)s::jsonb, %(closed_at)s)",
            values,
        )

    def copy_receipts(
        self, epoch: int, receipts: Iterable[tuple[str, str, int, int, list[Any]]]
    ) -> None:
        """Receipts as (node_id, provider_id, amount, ideal, values in field order) rows."""
        copy_text(
            self.pg,
            "COPY reward_receipts (epoch, node_id, provider_id, amount_base_units, "
            "ideal_base_units, receipt) FROM STDIN",
            (
                f"{epoch}\t{node_id}\t{provider_id}\t{amount}\t{ideal}\t"
                f"{copy_escape(orjson.dumps(values).decode())}\n"
                for node_id, provider_id, amount, ideal, values in receipts
            ),
        )

    def copy_leaves(self, epoch: int, leaves: Iterable[tuple[str, int, int, int, bytes]]) -> None:
        """(provider_id, epoch amount, cumulative, leaf index, proof bytes) rows."""
        copy_text(
            self.pg,
            "COPY reward_leaves (epoch, provider_id, epoch_amount_base_units, "
            "cumulative_base_units, leaf_index, proof) FROM STDIN",
            (
                f"{epoch}\t{provider}\t{amount}\t{cumulative}\t{index}\t\\\\x{proof.hex()}\n"
                for provider, amount, cumulative, index, proof in leaves
            ),
        )

    def receipts(self, epoch: int) -> dict[str, tuple[int, dict[str, Any]]]:
        """node_id -> (amount, receipt as a dict) for one epoch."""
        rows = self.pg.execute(
            "SELECT r.node_id, r.amount_base_units::text, r.receipt, e.receipt_fields "
            "FROM reward_receipts r JOIN reward_epochs e USING (epoch) WHERE r.epoch = %s",
            (epoch,),
        ).fetchall()
        return {r[0]: (int(r[1]), dict(zip(r[3], r[2], strict=True))) for r in rows}

    def node_amounts(self, epoch: int, node_ids: Sequence[str]) -> dict[str, int]:
        """node_id -> amount paid in ``epoch``, for the given nodes only (no receipt bodies)."""
        rows = self.pg.execute(
            "SELECT node_id, amount_base_units::text FROM reward_receipts "
            "WHERE epoch = %s AND node_id = ANY(%s::text[])",
            (epoch, list(node_ids)),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def leaves(self, epoch: int) -> dict[str, tuple[int, int, bytes]]:
        rows = self.pg.execute(
            "SELECT provider_id, epoch_amount_base_units::text, cumulative_base_units::text, "
            "proof FROM reward_leaves WHERE epoch = %s",
            (epoch,),
        ).fetchall()
        return {r[0]: (int(r[1]), int(r[2]), bytes(r[3])) for r in rows}

    def node_receipts(self, node_id: str, limit: int) -> list[dict[str, Any]]:
        rows = self.pg.execute(
            "SELECT r.receipt, e.receipt_fields FROM reward_receipts r "
            "JOIN reward_epochs e USING (epoch) WHERE r.node_id = %s "
            "ORDER BY r.epoch DESC LIMIT %s",
            (node_id, limit),
        ).fetchall()
        return [dict(zip(r[1], r[0], strict=True)) for r in rows]

    def provider_leaf(self, provider_id: str) -> tuple[int, int, int, bytes] | None:
        row = self.pg.execute(
            "SELECT epoch, cumulative_base_units::text, leaf_index, proof FROM reward_leaves "
            "WHERE provider_id = %s ORDER BY epoch DESC LIMIT 1",
            (provider_id,),
        ).fetchone()
        return (int(row[0]), int(row[1]), int(row[2]), bytes(row[3])) if row else None

    def reward_totals(self, through_epoch: int) -> dict[str, tuple[int, int]]:
        """Per provider, from the ledger: (reward of this epoch, cumulative through it)."""
        rows = self.pg.execute(
            "SELECT a.owner, coalesce(sum(t.amount) FILTER (WHERE t.epoch = %s), 0)::text, "
            "sum(t.amount)::text FROM transfers t JOIN accounts a ON a.id = t.credit_account_id "
            "WHERE t.code = %s AND t.kind = 'posted' AND t.epoch <= %s GROUP BY a.owner",
            (through_epoch, codes.REWARD, through_epoch),
        ).fetchall()
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def recent_reward_credits(self, after_epoch: int, through_epoch: int) -> dict[str, int]:
        """Per provider, the rewards credited for epochs in ``(after_epoch, through_epoch]``
        (those not matured yet)."""
        rows = self.pg.execute(
            "SELECT a.owner, sum(t.amount)::text FROM transfers t "
            "JOIN accounts a ON a.id = t.credit_account_id "
            "WHERE t.code = %s AND t.kind = 'posted' AND t.epoch > %s AND t.epoch <= %s "
            "GROUP BY a.owner",
            (codes.REWARD, after_epoch, through_epoch),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def reward_balances(self) -> dict[str, dict[str, tuple[int, int, int, int]]]:
        """Per provider and reward account kind (rewards_accrued, rewards_claimable): (account
        id, credits posted, debits posted, debits pending)."""
        rows = self.pg.execute(
            "SELECT a.owner, a.kind, a.id, b.credits_posted::text, b.debits_posted::text, "
            "b.debits_pending::text FROM accounts a JOIN balances b ON b.account_id = a.id "
            "WHERE a.kind IN ('rewards_accrued', 'rewards_claimable')"
        ).fetchall()
        out: dict[str, dict[str, tuple[int, int, int, int]]] = {}
        for owner, kind, aid, cp, dp, dpend in rows:
            out.setdefault(owner, {})[kind] = (int(aid), int(cp), int(dp), int(dpend))
        return out

    def claimable_through(self, through_epoch: int) -> dict[str, int]:
        """Per provider, from the ledger: everything that matured at closes up to
        ``through_epoch`` (the cumulative amount its leaf commits to)."""
        rows = self.pg.execute(
            "SELECT a.owner, sum(t.amount)::text FROM transfers t "
            "JOIN accounts a ON a.id = t.credit_account_id "
            "WHERE t.code = %s AND t.kind = 'posted' AND t.epoch <= %s GROUP BY a.owner",
            (codes.REWARD_MATURED, through_epoch),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def provider_reward_credits(self, provider_id: str, after_epoch: int) -> list[tuple[int, int]]:
        """The provider's epoch rewards credited for epochs after ``after_epoch``, oldest
        first: (epoch, amount)."""
        rows = self.pg.execute(
            "SELECT t.epoch, t.amount::text FROM transfers t "
            "JOIN accounts a ON a.id = t.credit_account_id "
            "WHERE a.owner = %s AND a.kind = 'rewards_accrued' AND t.code = %s "
            "AND t.kind = 'posted' AND t.epoch > %s ORDER BY t.epoch",
            (provider_id, codes.REWARD, after_epoch),
        ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    def last_closed_epoch(self) -> int | None:
        row = self.pg.execute("SELECT max(epoch) FROM reward_epochs").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def has_reward_account(self, provider_id: str) -> bool:
        row = self.pg.execute(
            "SELECT 1 FROM accounts WHERE owner = %s AND kind = 'rewards_accrued'", (provider_id,)
        ).fetchone()
        return row is not None

    def leaf_history(self) -> list[tuple[int, str, int]]:
        """Every stored leaf, in epoch order: (epoch, provider, cumulative claimable)."""
        rows = self.pg.execute(
            "SELECT epoch, provider_id, cumulative_base_units::text FROM reward_leaves "
            "ORDER BY epoch, provider_id"
        ).fetchall()
        return [(int(r[0]), r[1], int(r[2])) for r in rows]

    def claimable_accounts(self) -> dict[str, tuple[int, int, int]]:
        """Per provider's rewards_claimable account: (credits posted, debits posted, debits
        pending)."""
        rows = self.pg.execute(
            "SELECT a.owner, b.credits_posted::text, b.debits_posted::text, "
            "b.debits_pending::text FROM accounts a JOIN balances b ON b.account_id = a.id "
            "WHERE a.kind = 'rewards_claimable'"
        ).fetchall()
        return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}
