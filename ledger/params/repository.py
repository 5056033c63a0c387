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
