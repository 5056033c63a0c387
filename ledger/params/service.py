"""The registry of parameter sets: every set an epoch is computed under is stored, immutable,
and found again by its hash, so a recomputation always uses the epoch's own set whatever the
process's profile says (SPEC 9)."""

from __future__ import annotations

from sqlalchemy import Connection

from ledger.kit.errors import Conflict, NotFound
from ledger.params.domain import ParameterSet
from ledger.params.repository import ParamsRepository


def ensure_stored(conn: Connection, params: ParameterSet) -> str:
    """Store ``params`` if it is new (idempotent); returns its hash."""
    ParamsRepository(conn).store(params)
    return params.content_hash()


def params_of_hash(conn: Connection, params_hash: str) -> ParameterSet:
    """The stored set with ``params_hash``; its content is re-hashed, so a stored set that does
    not match its key is refused rather than used."""
    text = ParamsRepository(conn).canonical_json(params_hash)
    if text is None:
        raise NotFound(
            f"parameter set {params_hash} is not stored",
            code="params_not_found",
            field="params_hash",
        )
    params = ParameterSet.from_json(text)
    if params.content_hash() != params_hash:  # a stored row was altered: never use it
        raise Conflict(
            f"{params_hash}: the stored set hashes to {params.content_hash()}",
            code="params_hash_mismatch", field="params_hash",
        )  # fmt: skip
    return params
