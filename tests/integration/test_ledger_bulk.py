"""The bulk path (COPY, optimistic idempotency, overlapped balance writes) on real PostgreSQL.

Batches here are larger than the service's OPTIMISTIC_BATCH so they take the bulk path.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from ledger.accounting.domain.transfers import TransferKind as K
from ledger.accounting.service import (
    OPTIMISTIC_BATCH,
    create_transfers,
    get_account,
    open_account,
    verify_ledger,
)
from ledger.kit.db import transaction
from ledger.kit.errors import Conflict, InvalidInput
from tests.integration.helpers import NOW, req, setup_accounts

N = OPTIMISTIC_BATCH + 300
ODD_METADATA = {
    "note": 'back\\slash, tab\there, new\nline, "quotes", \u00e9t\u00e9 \u2603 \U0001f600',
    "nested": {"list": [1, -2, 10**40, True, None, "x"]},
}


def _providers(engine: Engine, n: int) -> list[int]:
    with transaction(engine) as conn:
        return [open_account(conn, owner=f"bulk-{i}", kind="rewards_accrued").id for i in range(n)]


def _batch(emission: int, provs: list[int], amount: int = 7) -> list:
    return [
        req(
            f"b:{i}", emission, p, amount + i, epoch=5, metadata=ODD_METADATA if i % 97 == 0 else {}
        )
        for i, p in enumerate(provs)
    ]


def test_bulk_batch_round_trips_exactly_and_verifies(engine: Engine) -> None:
    sysa, _, _ = setup_accounts(engine)
    provs = _providers(engine, N)
    with transaction(engine) as conn:
        res = create_transfers(conn, _batch(sysa["emission"], provs), now=NOW)
    assert len(res.created) == N and [t.seq for t in res.created] == list(range(1, N + 1))
    with engine.connect() as conn:
        assert verify_ledger(conn).ok
        meta = conn.execute(text("SELECT metadata FROM transfers WHERE id = 'b:0'")).scalar_one()
        assert meta == ODD_METADATA
        assert get_account(conn, provs[5]).credits_posted == 7 + 5
        emitted = get_account(conn, sysa["emission"]).debits_posted
        assert emitted == sum(7 + i for i in range(N))


def test_bulk_retry_is_idempotent_and_conflicts_are_refused(engine: Engine) -> None:
    sysa, _, _ = setup_accounts(engine)
    provs = _providers(engine, N)
    batch = _batch(sysa["emission"], provs)
    with transaction(engine) as conn:
        create_transfers(conn, batch, now=NOW)
    with transaction(engine) as conn:
        again = create_transfers(conn, batch, now=NOW)
    assert again.created == [] and len(again.existing) == N
    changed = list(batch)
    changed[N // 2] = changed[N // 2]._replace(amount=changed[N // 2].amount + 1)
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        create_transfers(conn, changed, now=NOW)
    assert ei.value.code == "exists_with_different_amount"
    assert ei.value.details["index"] == N // 2
    # One new transfer among retried ones: only it is appended.
    extended = [*batch[1:], req("b:new", sysa["emission"], provs[0], 3)]
    with transaction(engine) as conn:
        res = create_transfers(conn, extended, now=NOW)
    assert [t.id for t in res.created] == ["b:new"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transfers")).scalar_one() == N + 1
        assert verify_ledger(conn).ok


def test_bulk_failure_leaves_nothing_behind(engine: Engine) -> None:
    sysa, a, b = setup_accounts(engine)
    provs = _providers(engine, N)
    batch = _batch(sysa["emission"], provs)
    batch.append(req("overdraw", a, b, 1))  # a holds nothing: the last transfer fails
    with pytest.raises(InvalidInput) as ei, transaction(engine) as conn:
        create_transfers(conn, batch, now=NOW)
    assert ei.value.code == "exceeds_credits" and ei.value.details["index"] == N
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM transfers")).scalar_one() == 0
        assert get_account(conn, sysa["emission"]).debits_posted == 0


def test_bulk_two_phase_inside_one_batch(engine: Engine) -> None:
    sysa, a, b = setup_accounts(engine)
    provs = _providers(engine, N)
    batch = _batch(sysa["emission"], provs)
    batch += [
        req("fund", sysa["emission"], a, 1_000),
        req("hold", a, b, 600, kind=K.PENDING),
        req("post", None, None, 400, kind=K.POST_PENDING, ref_id="hold"),
        req("undo", None, None, None, kind=K.REVERSAL, ref_id="post"),
    ]
    with transaction(engine) as conn:
        create_transfers(conn, batch, now=NOW)
    with engine.connect() as conn:
        acct = get_account(conn, a)
        assert (acct.debits_pending, acct.debits_posted, acct.credits_posted) == (0, 400, 1_400)
        assert verify_ledger(conn).ok


def test_counter_overflow_is_refused_not_a_crash(engine: Engine) -> None:
    sysa, a, _ = setup_accounts(engine)
    top = 2**256 - 1
    with transaction(engine) as conn:
        create_transfers(conn, [req("max1", sysa["emission"], a, top)], now=NOW)
    with pytest.raises(Exception) as ei, transaction(engine) as conn:
        create_transfers(conn, [req("max2", sysa["emission"], a, 1)], now=NOW)
    assert getattr(ei.value, "code", None) in {
        "overflows_debits_posted",
        "overflows_credits_posted",
    }
