"""What every benchmark needs: a server (external or embedded) and fresh migrated databases."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from ledger.kit.embedded import libpq_url, normalize_pg_url, start_embedded_postgres, with_database
from ledger.kit.migrate import upgrade


def server_url(tmp: Path | None = None) -> str:
    """DATABASE_URL's server, or an embedded PostgreSQL in a temporary directory."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return normalize_pg_url(url)
    return start_embedded_postgres(tmp or Path(tempfile.mkdtemp(prefix="swarm-bench-")))


def fresh_db(server: str, prefix: str = "swarm_bench") -> str:
    """A new database on the server, migrated to head."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_url(with_database(server, "postgres")), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    upgrade(url)
    return url


def drop_db(server: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(libpq_url(with_database(server, "postgres")), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
