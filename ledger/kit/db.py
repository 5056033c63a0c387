"""Engines, transactions, and the text encodings every repository sends to PostgreSQL.

The application runs as the restricted ledger role.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text

#: Seconds after which a pooled connection is replaced.
#: Advisory-lock namespace of closing an epoch ("SWRD"): taken by the close (rewards) and
#: probed by the due-epoch check (epochs), so it is defined once, here.
EPOCH_CLOSE_LOCK_NAMESPACE = 0x53575244

POOL_RECYCLE_S = 600
ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def make_engine(url: str, *, app_role: str | None = None, pool_size: int = 10, **kw: Any) -> Engine:
    """An engine whose connections assume ``app_role`` (if given) right after connecting.

    The role may read and append transfers but holds no UPDATE / DELETE / TRUNCATE on them, so
    nothing the service does can rewrite history. Migrations use an engine without a role.
    """
    # No pre-ping: it costs a round trip per transaction. A connection broken by a server
    # restart fails one transaction (SQLAlchemy then discards the pool) and the caller's retry
    # with the same idempotency keys is safe; recycling bounds how stale a connection gets.
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=POOL_RECYCLE_S, **kw
    )
    if app_role:
        if not ROLE_RE.match(app_role):
            raise ValueError(f"SWARM_DB_APP_ROLE: invalid role name {app_role!r}")

        @event.listens_for(engine, "connect")
        def _set_role(dbapi_conn: Any, _record: Any) -> None:
            autocommit = dbapi_conn.autocommit
            dbapi_conn.autocommit = True
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET ROLE {app_role}")
            dbapi_conn.autocommit = autocommit

    return engine


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work: commits if the block returns, rolls back if it raises."""
    with engine.begin() as conn:
        yield conn


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read of one moment: a REPEATABLE READ transaction, rolled back when the block ends.

    ``verify`` and the audit compare transfers with balances, so both must come from the same
    snapshot.
    """
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        yield conn


def driver(conn: Connection) -> Any:
    """The psycopg connection under a SQLAlchemy one (for COPY and pipelined statements)."""
    return conn.connection.driver_connection


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers: far cheaper to send than a list adapted per item."""
    return "{" + ",".join(map(str, values)) + "}"


def copy_escape(value: str) -> str:
    """Escape a value for COPY's text format (ids and numbers never need it; JSON may)."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def copy_text(pg: Any, statement: str, lines: Iterable[str], chunk_rows: int = 2_000) -> None:
    """Stream COPY text lines in chunks (PostgreSQL ingests one while Python builds the next)."""
    with pg.cursor() as cur, cur.copy(statement) as copy:
        buf: list[str] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= chunk_rows:
                copy.write("".join(buf))
                buf.clear()
        if buf:
            copy.write("".join(buf))
