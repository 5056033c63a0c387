"""What telemetry needs from other modules, as Cosmos SDK modules declare their expected keepers.

Every use telemetry makes of another module's service or repository goes through this file, so
the list below is the whole of its dependency on their state:

- registry: the nodes that sign heartbeats (key, status, highest accepted seq), and the
  maintenance windows they declared (heartbeats missed inside one are not downtime).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from ledger.registry.repository import NodeRow, RegistryRepository

__all__ = ["NodeRow", "maintenance_windows", "nodes_by_ids"]


def nodes_by_ids(conn: Connection, node_ids: Iterable[str]) -> dict[str, NodeRow]:
    """The current version of each of these nodes that is registered, by node id."""
    return RegistryRepository(conn).nodes_by_ids(list(node_ids))


def maintenance_windows(
    conn: Connection, node_ids: Iterable[str], from_ts: int, to_ts: int
) -> dict[str, list[tuple[int, int]]]:
    """Declared windows overlapping [from_ts, to_ts), per node: (start_ts, end_ts), in order."""
    windows: dict[str, list[tuple[int, int]]] = {}
    for node_id, s, e in RegistryRepository(conn).maintenance_between(
        list(node_ids), from_ts, to_ts
    ):
        windows.setdefault(node_id, []).append((s, e))
    return windows


def registered_after(conn: Connection, after_s: int) -> dict[str, int]:
    """Nodes first registered after ``after_s`` (Unix seconds), with when: their slots before
    it are not expected."""
    return RegistryRepository(conn).registered_after(after_s)
