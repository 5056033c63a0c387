"""Beat's sweeps find every step after a close that is missing (issue 10, points 10-12).

- The due check names only the oldest unclosed epoch, and none while a close holds it
  (no out-of-order closes, no pile of duplicates; a killed close is free again at once).
- The evaluation sweep finds epochs closed but never evaluated (a lost ``.delay``), skips one
  being evaluated, and an evaluation is recorded once.
- The tasks themselves: a redelivered out-of-order close is logged at INFO, not an error.
"""

from __future__ import annotations

import logging
import time

import psycopg
import pytest
from sqlalchemy import Engine

from ledger.epochs import service as epochs
from ledger.epochs.repository import CLOSE_LOCK_NAMESPACE, EVALUATE_LOCK_NAMESPACE
from ledger.kit.db import transaction
from ledger.kit.embedded import libpq_url
from ledger.params.domain import demo_params
from tests.integration.epoch_helpers import at
from tests.integration.fleet import now_ts

P = demo_params()


def hold(db_url: str, namespace: int, epoch: int) -> psycopg.Connection:
    """Another session holding the advisory lock (a close or evaluation in progress)."""
    conn = psycopg.connect(libpq_url(db_url))
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (namespace, epoch))
    return conn


def close(engine: Engine, epoch: int) -> None:
    with transaction(engine) as conn:
        epochs.close_epoch(conn, epoch, now=at(now_ts()), params=P)


def test_the_due_check_names_the_oldest_epoch_unless_a_close_holds_it(
    engine: Engine, fresh_db_url: str
) -> None:
    base = now_ts() // 60 - 6
    close(engine, base)  # a ledger that has closed epochs before: a backlog of 4 is due
    now = at(now_ts())
    with engine.connect() as conn:
        assert epochs.due_epochs(conn, now=now, params=P)[:2] == [base + 1, base + 2]
        assert epochs.next_epoch_to_close(conn, now=now, params=P) == base + 1
    closer = hold(fresh_db_url, CLOSE_LOCK_NAMESPACE, base + 1)
    try:
        with engine.connect() as conn:  # being closed: nothing to enqueue
            assert epochs.next_epoch_to_close(conn, now=now, params=P) is None
    finally:
        closer.close()  # the closer died: its lock goes with its connection
    deadline = time.monotonic() + 10  # the server ends the backend a moment after the close
    while True:
        with engine.connect() as conn:
            found = epochs.next_epoch_to_close(conn, now=now, params=P)
        if found is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found == base + 1


def test_the_evaluation_sweep_finds_closed_epochs_never_evaluated(
    engine: Engine, fresh_db_url: str, worker_runtime: None
) -> None:
    base = now_ts() // 60 - 6
    for e in (base, base + 1, base + 2):
        close(engine, e)  # closed; their evaluation messages were "lost"
    with engine.connect() as conn:
        assert epochs.epochs_to_evaluate(conn, newest=48) == [base, base + 1, base + 2]
        assert epochs.epochs_to_evaluate(conn, newest=1) == [base + 2]
    evaluator = hold(fresh_db_url, EVALUATE_LOCK_NAMESPACE, base)
    try:
        with engine.connect() as conn:
            assert epochs.epochs_to_evaluate(conn, newest=48) == [base + 1, base + 2]
    finally:
        evaluator.close()
    from workers.slashing import evaluate_epoch

    for e in (base, base + 1):
        evaluate_epoch.run(e)  # as the worker runs what the sweep enqueued
    assert evaluate_epoch.run(base) == 0  # a duplicate finds it recorded
    with engine.connect() as conn:
        assert epochs.epochs_to_evaluate(conn, newest=48) == [base + 2]
        summaries = epochs.evaluated_epochs_after(conn, base - 1)
    assert [s.epoch for s in summaries] == [base, base + 1]


@pytest.fixture
def worker_runtime(engine: Engine, fresh_db_url: str, redis_url: str,
                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The tasks' runtime on this test's database (they call get_runtime())."""
    from ledger.runtime import Runtime, get_runtime
    from tests.integration.test_api import make_runtime

    rt: Runtime = make_runtime(engine, fresh_db_url, redis_url)
    rt.params = P
    get_runtime.cache_clear()
    monkeypatch.setattr("workers.slashing.get_runtime", lambda: rt)
    monkeypatch.setattr("workers.epochs.get_runtime", lambda: rt)


def test_an_out_of_order_close_is_an_info_line_not_an_error(
    engine: Engine, worker_runtime: None, caplog: pytest.LogCaptureFixture
) -> None:
    from workers.epochs import close_epoch

    base = now_ts() // 60 - 6
    close(engine, base)
    caplog.set_level(logging.INFO)
    result = close_epoch.run(base + 2)  # base + 1 is next: a stale or racing message
    assert result["skipped"] == "epoch_out_of_order"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("not closed" in r.getMessage() for r in caplog.records)
