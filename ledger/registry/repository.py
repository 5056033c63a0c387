"""SQL for providers and nodes. Node history is append-only (node_versions); ``nodes`` holds
the current version of each node for fast lookups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ledger.kit.db import driver
from ledger.registry.domain import NodeStatus

#: (node_id, provider_id, provider_type, region, capacity_units_ppm, required stake)
NodeAsOf = tuple[str, str, str, str, int, int]


@dataclass(frozen=True, slots=True)
class NodeRow:
    node_id: str
    version: int
    provider_id: str
    provider_type: str
    region: str
    node_address: str
    fingerprint: str
    capacity_units_ppm: int
    status: NodeStatus
    max_seq: int


# The highest accepted seq comes from the seq registry (a backward index-only scan): keeping
# it as a column meant rewriting a node row for every heartbeat batch.
NODE_COLUMNS = (
    "node_id, version, provider_id, provider_type, region, node_address, fingerprint, "
    "capacity_units_ppm, status, "
    "(SELECT coalesce(max(s.seq), 0) FROM heartbeat_seqs s WHERE s.node_id = nodes.node_id)"
)


def _node_row(r: Sequence[Any]) -> NodeRow:
    """A row of NODE_COLUMNS."""
    return NodeRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], NodeStatus(r[8]), r[9])


class RegistryRepository:
    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def upsert_provider(self, provider_id: str, payout_address: str) -> tuple[str, bool]:
        """Insert the provider unless it exists; returns (stored payout address, created)."""
        row = self.pg.execute(
            "INSERT INTO providers (id, payout_address) VALUES (%s, %s) "
            "ON CONFLICT (id) DO NOTHING RETURNING payout_address",
            (provider_id, payout_address),
        ).fetchone()
        if row is not None:
            return row[0], True
        row = self.pg.execute(
            "SELECT payout_address FROM providers WHERE id = %s", (provider_id,)
        ).fetchone()
        return row[0], False

    def provider_exists(self, provider_id: str) -> bool:
        return (
            self.pg.execute("SELECT 1 FROM providers WHERE id = %s", (provider_id,)).fetchone()
            is not None
        )

    def lock_node(self, node_id: str) -> NodeRow | None:
        row = self.pg.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE node_id = %s FOR UPDATE", (node_id,)
        ).fetchone()
        return _node_row(row) if row else None

    def get_node(self, node_id: str) -> NodeRow | None:
        row = self.pg.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE node_id = %s", (node_id,)
        ).fetchone()
        return _node_row(row) if row else None

    def nodes_by_ids(self, node_ids: list[str]) -> dict[str, NodeRow]:
        rows = self.pg.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE node_id = ANY(%s::text[])", (node_ids,)
        ).fetchall()
        return {r[0]: _node_row(r) for r in rows}

    def list_nodes(self, provider_id: str | None, after: str, limit: int) -> list[NodeRow]:
        where = "node_id > %s" + (" AND provider_id = %s" if provider_id else "")
        params: tuple[Any, ...] = (after, provider_id) if provider_id else (after,)
        rows = self.pg.execute(
            f"SELECT {NODE_COLUMNS} FROM nodes WHERE {where} ORDER BY node_id LIMIT %s",
            (*params, limit),
        ).fetchall()
        return [_node_row(r) for r in rows]

    def write_version(self, v: dict[str, Any]) -> None:
        """Append a node version and make it current."""
        self.pg.execute(
            "INSERT INTO node_versions (node_id, version, provider_id, provider_type, region, "
            "gpus, gpu_class, ram_gb, storage_tb, bandwidth_gbps, fingerprint, node_address, "
            "capacity_units_ppm, required_stake_base_units, status, params_version, created_at) "
            "VALUES "
            "(%(node_id)s, %(version)s, %(provider_id)s, %(provider_type)s, %(region)s, "
            "%(gpus)s, %(gpu_class)s, %(ram_gb)s, %(storage_tb)s, %(bandwidth_gbps)s, "
            "%(fingerprint)s, %(node_address)s, %(capacity_units_ppm)s, "
            "%(required_stake_base_units)s, %(status)s, %(params_version)s, %(created_at)s)",
            v,
        )
        self.pg.execute(
            "INSERT INTO nodes (node_id, version, provider_id, provider_type, region, "
            "node_address, fingerprint, capacity_units_ppm, status, updated_at) "
            "VALUES (%(node_id)s, "
            "%(version)s, %(provider_id)s, %(provider_type)s, %(region)s, %(node_address)s, "
            "%(fingerprint)s, %(capacity_units_ppm)s, %(status)s, %(created_at)s) "
            "ON CONFLICT (node_id) DO UPDATE SET version = EXCLUDED.version, "
            "provider_type = EXCLUDED.provider_type, region = EXCLUDED.region, "
            "node_address = EXCLUDED.node_address, fingerprint = EXCLUDED.fingerprint, "
            "capacity_units_ppm = EXCLUDED.capacity_units_ppm, status = EXCLUDED.status, "
            "updated_at = EXCLUDED.updated_at",
            v,
        )

    def node_history(self, node_id: str) -> list[dict[str, Any]]:
        cur = self.pg.execute(
            "SELECT node_id, version, provider_id, provider_type, region, gpus, gpu_class, "
            "ram_gb, storage_tb, bandwidth_gbps, fingerprint, node_address, capacity_units_ppm, "
            "required_stake_base_units::text, status, params_version, created_at "
            "FROM node_versions WHERE node_id = %s ORDER BY version",
            (node_id,),
        )
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def add_maintenance(self, node_id: str, start_ts: int, end_ts: int, declared_at: Any) -> int:
        row = self.pg.execute(
            "INSERT INTO maintenance_windows (node_id, start_ts, end_ts, declared_at) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (node_id, start_ts, end_ts, declared_at),
        ).fetchone()
        return int(row[0])

    def maintenance_between(
        self, node_ids: list[str], from_ts: int, to_ts: int
    ) -> list[tuple[str, int, int]]:
        """Windows of these nodes overlapping [from_ts, to_ts)."""
        rows = self.pg.execute(
            "SELECT node_id, start_ts, end_ts FROM maintenance_windows "
            "WHERE node_id = ANY(%s::text[]) AND start_ts < %s AND end_ts > %s "
            "ORDER BY node_id, start_ts",
            (node_ids, to_ts, from_ts),
        ).fetchall()
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    def nodes_as_of(self, as_of: dt.datetime) -> list[NodeAsOf]:
        """Nodes active at ``as_of`` (their latest version then): (node_id, provider_id,
        provider_type, region, capacity_units_ppm, required_stake)."""
        rows = self.pg.execute(
            "SELECT node_id, provider_id, provider_type, region, capacity_units_ppm, "
            "required_stake_base_units::text FROM ("
            " SELECT DISTINCT ON (node_id) * FROM node_versions WHERE created_at < %s "
            " ORDER BY node_id, version DESC) v WHERE status = 'active' ORDER BY node_id",
            (as_of,),
        ).fetchall()
        return [(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]

    def identities_as_of(self, as_of: dt.datetime) -> dict[str, tuple[str, int]]:
        """Active nodes at ``as_of``: node_id -> (hardware fingerprint, registered at, unix s)."""
        rows = self.pg.execute(
            "SELECT v.node_id, v.fingerprint, extract(epoch FROM f.created_at)::bigint FROM ("
            " SELECT DISTINCT ON (node_id) * FROM node_versions WHERE created_at < %s "
            " ORDER BY node_id, version DESC) v "
            "JOIN node_versions f ON f.node_id = v.node_id AND f.version = 1 "
            "WHERE v.status = 'active'",
            (as_of,),
        ).fetchall()
        return {r[0]: (r[1], int(r[2])) for r in rows}

    def registered_after(self, after_s: int) -> dict[str, int]:
        """Nodes first registered (their version 1) after Unix second ``after_s``: node id ->
        registration time (seconds, rounded up, so a node is never expected before it was)."""
        rows = self.pg.execute(
            "SELECT node_id, ceil(extract(epoch FROM created_at))::bigint FROM node_versions "
            "WHERE version = 1 AND created_at > to_timestamp(%s)",
            (after_s,),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}
