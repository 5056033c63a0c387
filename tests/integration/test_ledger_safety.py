"""The ledger's guarantees under stress: concurrency limits, append-only, tamper evidence,
migrations on a populated ledger."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
import pytest
from sqlalchemy import Engine, text

from ledger.accounting.service import create_transfer, create_transfers, get_account, verify_ledger
from ledger.kit.db import make_engine, transaction
from ledger.kit.embedded import libpq_url
from ledger.kit.errors import InvalidInput
from ledger.kit.migrate import downgrade, upgrade
from tests.integration.helpers import NOW, req, setup_accounts

CLIENTS = 50


def test_fifty_concurrent_debits_never_overdraw(engine: Engine) -> None:
    """50 writers race to spend 10 each from a balance of 235: exactly 23 fit, in any order."""
    sysa, a, b = setup_accounts(engine)
    with transaction(engine) as conn:
        create_transfer(conn, req("fund", sysa["emission"], a, 235), now=NOW)
    barrier = threading.Barrier(CLIENTS)
    results: list[str] = []
    lock = threading.Lock()
    eng = make_engine(engine.url.render_as_string(hide_password=False), app_role="swarm_ledger_app",
                      pool_size=CLIENTS)  # fmt: skip

    def spend(i: int) -> None:
        barrier.wait()
        try:
            with transaction(eng) as conn:
                create_transfer(conn, req(f"spend-{i}", a, b, 10), now=NOW)
            outcome = "ok"
        except InvalidInput as exc:
            outcome = exc.code
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eng.dispose()
    assert results.count("ok") == 23
    assert results.count("exceeds_credits") == 27
    with engine.connect() as conn:
        acct = get_account(conn, a)
        assert acct.credits_posted - acct.debits_posted == 5
        assert verify_ledger(conn).ok


def _owner_conn(url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(url), autocommit=True)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE transfers SET amount = amount + 1",
        "DELETE FROM transfers",
        "TRUNCATE transfers",
        "TRUNCATE transfers CASCADE",
    ],
)
@pytest.mark.parametrize("as_app_role", [True, False])
def test_transfers_are_append_only(
    engine: Engine, fresh_db_url: str, statement: str, as_app_role: bool
) -> None:
    sysa, a, _ = setup_accounts(engine)
    with transaction(engine) as conn:
        create_transfers(
            conn, [req("x1", sysa["emission"], a, 7), req("x2", sysa["emission"], a, 8)], now=NOW
        )
    with _owner_conn(fresh_db_url) as conn:
        if as_app_role:
            conn.execute("SET ROLE swarm_ledger_app")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
        conn.execute("RESET ROLE")
        assert conn.execute("SELECT count(*), sum(amount) FROM transfers").fetchone() == (2, 15)


def _tamper(url: str, sql: str) -> None:
    """What only a superuser bypassing the triggers could do."""
    with _owner_conn(url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql)


def _populate(engine: Engine) -> tuple[dict[str, int], int, int]:
    sysa, a, b = setup_accounts(engine)
    with transaction(engine) as conn:
        create_transfers(
            conn,
            [req(f"r{i}", sysa["emission"], a, 100 + i, epoch=i) for i in range(1, 6)]
            + [req("mv", a, b, 50)],
            now=NOW,
        )
    return sysa, a, b


@pytest.mark.parametrize(
    ("sql", "expect"),
    [
        ("UPDATE transfers SET amount = 999 WHERE id = 'r3'", "seq=3 id=r3"),
        ("UPDATE transfers SET metadata = '{\"x\": 1}' WHERE id = 'r2'", "seq=2 id=r2"),
        ("DELETE FROM transfers WHERE id = 'r4'", "seq=5 id=r5"),
        ("DELETE FROM transfers WHERE id = 'mv'", "ledger_head"),
        ("UPDATE balances SET credits_posted = credits_posted + 1 "
         "WHERE account_id = (SELECT credit_account_id FROM transfers WHERE id = 'mv')",
         "balances_match_transfers"),
    ],
)  # fmt: skip
def test_verify_names_the_first_broken_row(
    engine: Engine, fresh_db_url: str, sql: str, expect: str
) -> None:
    _populate(engine)
    with engine.connect() as conn:
        assert verify_ledger(conn).ok
    _tamper(fresh_db_url, sql)
    with engine.connect() as conn:
        report = verify_ledger(conn)
    assert not report.ok
    assert expect in str(report.breaches[0])


def test_verify_cli_exits_non_zero_on_tamper(engine: Engine, fresh_db_url: str) -> None:
    _populate(engine)
    env = {**os.environ, "DATABASE_URL": fresh_db_url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    cmd = [sys.executable, "-m", "ledger.cli", "verify"]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "ok: 6 transfers" in ok.stdout
    _tamper(fresh_db_url, "UPDATE transfers SET amount = 1 WHERE id = 'r2'")
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "hash_chain_intact: transfer seq=2 id=r2" in bad.stderr


def test_migrations_down_and_up_on_a_populated_ledger(engine: Engine, fresh_db_url: str) -> None:
    _populate(engine)
    engine.dispose()
    downgrade(fresh_db_url, "0002_transfers")  # drops the append-only guards, keeps the data
    with _owner_conn(fresh_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM transfers").fetchone() == (6,)
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'transfers_no_%'"
        ).fetchone()
        assert triggers == (0,)
    upgrade(fresh_db_url)
    with engine.connect() as conn:
        assert verify_ledger(conn).ok
        assert conn.execute(text("SELECT count(*) FROM transfers")).scalar_one() == 6
    with _owner_conn(fresh_db_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM transfers")
    engine.dispose()
    downgrade(fresh_db_url, "base")
    with _owner_conn(fresh_db_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        ).fetchone()
        assert left == (0,)
    upgrade(fresh_db_url)
    with engine.connect() as conn:
        assert verify_ledger(conn).ok
