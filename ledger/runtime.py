"""Process wiring: resolve servers (external or embedded), build the engine, say which is used."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache

import redis as redis_lib
from sqlalchemy import Engine

from ledger.kit.config import Settings, get_settings
from ledger.kit.db import make_engine
from ledger.kit.embedded import (
    Resolved,
    Source,
    describe,
    resolve_database_url,
    resolve_redis_url,
)
from ledger.params.domain import DEFAULT_PARAMS, ParameterSet, params_for_profile

log = logging.getLogger("swarm_ledger")


@dataclass
class Runtime:
    settings: Settings
    database: Resolved
    redis: Resolved
    engine: Engine  # runs as the restricted application role
    params: ParameterSet = field(default_factory=lambda: DEFAULT_PARAMS)
    _redis_client: redis_lib.Redis | None = None

    @property
    def redis_client(self) -> redis_lib.Redis:
        """One pooled client per process (thread-safe)."""
        if self._redis_client is None:
            self._redis_client = redis_lib.Redis.from_url(
                self.redis.url, socket_timeout=5, socket_connect_timeout=5
            )
        return self._redis_client

    def banner(self) -> str:
        lines = [
            f"database: {self.database.source} {describe(self.database.url)}",
            f"redis:    {self.redis.source} {describe(self.redis.url)}",
        ]
        if Source.EMBEDDED in (self.database.source, self.redis.source):
            lines.append(f"data:     {self.settings.data_dir.resolve()} (embedded servers)")
        return "\n".join(lines)


def build_runtime(settings: Settings | None = None) -> Runtime:
    settings = settings or get_settings()
    db = resolve_database_url(settings)
    rd = resolve_redis_url(settings)
    engine = make_engine(
        db.url, app_role=settings.db_app_role or None, pool_size=settings.db_pool_size
    )
    return Runtime(settings, db, rd, engine, params_for_profile(settings.params_profile))


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """The process-wide runtime (the API and workers share it)."""
    rt = build_runtime()
    log.warning("swarm-ledger using\n%s", rt.banner())
    return rt
