"""The start-up banner says where the servers come from and which data directory is used
(issue 10, points 16 and 17): the demo hands its embedded servers to the worker and beat by
URL, and they used to call them "external"."""

from __future__ import annotations

from pathlib import Path

from ledger.kit.config import Settings
from ledger.kit.embedded import Source, has_embedded_data, resolve_database_url, resolve_redis_url


def test_servers_handed_down_by_the_demo_are_called_embedded() -> None:
    given = {"DATABASE_URL": "postgresql://u@/db?host=/tmp/d/pg", "REDIS_URL": "redis://h:1/0"}
    demo_child = Settings(**given, SWARM_SERVERS_EMBEDDED=True)
    assert resolve_database_url(demo_child).source is Source.EMBEDDED
    assert resolve_redis_url(demo_child).source is Source.EMBEDDED
    deployed = Settings(**given)
    assert resolve_database_url(deployed).source is Source.EXTERNAL
    assert resolve_redis_url(deployed).source is Source.EXTERNAL


def test_an_empty_directory_holds_no_ledger(tmp_path: Path) -> None:
    assert not has_embedded_data(tmp_path / "missing")
    (tmp_path / "pg").mkdir()
    assert not has_embedded_data(tmp_path)
    (tmp_path / "pg" / "PG_VERSION").write_text("18\n")
    assert has_embedded_data(tmp_path)
