"""All of params' SQL: the stored, immutable parameter sets (keyed by content hash)."""

from __future__ import annotations

from sqlalchemy import Connection

from ledger.kit.db import driver
from ledger.params.domain import ParameterSet


class ParamsRepository:
    def __init__(self, conn: Connection):
        self.pg = driver(conn)

    def store(self, params: ParameterSet) -> bool:
        """Store ``params`` once (by hash); True when this call stored it."""
        row = self.pg.execute(
            "INSERT INTO parameter_sets (params_hash, version, canonical_json) "
            "VALUES (%s, %s, %s) ON CONFLICT (params_hash) DO NOTHING RETURNING params_hash",
            (params.content_hash(), params.version, params.canonical_json()),
        ).fetchone()
        return row is not None

    def canonical_json(self, params_hash: str) -> str | None:
        """The canonical JSON of the set with ``params_hash``, or None when never stored."""
        row = self.pg.execute(
            "SELECT canonical_json FROM parameter_sets WHERE params_hash = %s", (params_hash,)
        ).fetchone()
        return None if row is None else str(row[0])

    def all(self) -> list[tuple[str, int, str]]:
        """Every stored set: (hash, version, stored at ISO time), oldest first."""
        rows = self.pg.execute(
            "SELECT params_hash, version, stored_at FROM parameter_sets ORDER BY stored_at, version"
        ).fetchall()
        return [(r[0], int(r[1]), r[2].isoformat()) for r in rows]
