"""Transfers on the real PostgreSQL ledger: semantics, idempotency, two-phase, limits."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, text

from ledger.accounting.domain.transfers import TransferKind as K
from ledger.accounting.service import (
    create_transfer,
    create_transfers,
    expire_pending,
    get_account,
    verify_ledger,
)
from ledger.api.errors import status_of
from ledger.kit.db import transaction
from ledger.kit.errors import Conflict, InvalidInput, SwarmError
from tests.integration.helpers import NOW, req, setup_accounts


def balance(engine: Engine, account_id: int) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        a = get_account(conn, account_id)
    return a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted


def count_transfers(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM transfers")).scalar_one())


def test_posted_transfer_moves_both_sides_and_verifies(engine: Engine) -> None:
    sysa, a, _ = setup_accounts(engine)
    with transaction(engine) as conn:
        t = create_transfer(conn, req("p1", sysa["emission"], a, 10**18, epoch=3), now=NOW)
    assert t.seq == 1 and t.amount == 10**18 and t.asset == "SWARM"
    assert balance(engine, a) == (0, 0, 0, 10**18)
    assert balance(engine, sysa["emission"]) == (0, 10**18, 0, 0)
    with engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_retry_with_same_fields_returns_original(engine: Engine) -> None:
    sysa, a, _ = setup_accounts(engine)
    r = req("same", sysa["emission"], a, 5, metadata={"why": "test", "n": 1})
    with transaction(engine) as conn:
        first = create_transfers(conn, [r], now=NOW)
    with transaction(engine) as conn:
        again = create_transfers(conn, [r], now=NOW + dt.timedelta(hours=1))
    assert again.created == [] and again.existing == first.created
    assert balance(engine, a) == (0, 0, 0, 5)
    assert count_transfers(engine) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 6}, "amount"),
        ({"code": 11}, "code"),
        ({"epoch": 9}, "epoch"),
        ({"metadata": {"why": "other"}}, "metadata"),
        ({"kind": K.PENDING}, "kind"),
    ],
)
def test_same_id_different_field_is_a_conflict(engine: Engine, change: dict, field: str) -> None:
    sysa, a, _ = setup_accounts(engine)
    base = {"amount": 5, "code": 10, "epoch": None, "metadata": {"why": "test"}, "kind": K.POSTED}
    with transaction(engine) as conn:
        create_transfer(conn, req("dup", sysa["emission"], a, **base), now=NOW)  # type: ignore[arg-type]
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        create_transfer(conn, req("dup", sysa["emission"], a, **{**base, **change}), now=NOW)  # type: ignore[arg-type]
    assert ei.value.code == f"exists_with_different_{field}"
    assert status_of(ei.value) == 409
    assert balance(engine, a) == (0, 0, 0, 5)


def test_linked_batch_is_all_or_nothing(engine: Engine) -> None:
    sysa, a, b = setup_accounts(engine)
    batch = [
        req("l1", sysa["emission"], a, 100),
        req("l2", a, b, 60),
        req("l3", a, b, 60),  # 120 > 100: breaks the limit, so l1 and l2 must not land either
    ]
    with pytest.raises(InvalidInput) as ei, transaction(engine) as conn:
        create_transfers(conn, batch, now=NOW)
    assert ei.value.code == "exceeds_credits"
    assert ei.value.details["index"] == 2
    assert count_transfers(engine) == 0
    assert balance(engine, a) == (0, 0, 0, 0)
    with transaction(engine) as conn:
        res = create_transfers(conn, batch[:2], now=NOW)
    assert [t.seq for t in res.created] == [1, 2]
    assert balance(engine, a) == (0, 60, 0, 100)


def test_pending_partial_post_releases_the_rest(engine: Engine) -> None:
    sysa, a, b = setup_accounts(engine)
    with transaction(engine) as conn:
        create_transfers(
            conn,
            [req("fund", sysa["emission"], a, 100), req("hold", a, b, 70, kind=K.PENDING)],
            now=NOW,
        )
    assert balance(engine, a) == (70, 0, 0, 100)
    with pytest.raises(InvalidInput) as ei, transaction(engine) as conn:
        create_transfer(conn, req("spend", a, b, 31), now=NOW)  # only 30 is available
    assert ei.value.code == "exceeds_credits"
    with transaction(engine) as conn:
        post = create_transfer(
            conn, req("post", None, None, 50, kind=K.POST_PENDING, ref_id="hold"), now=NOW
        )
    assert (post.debit_account_id, post.credit_account_id, post.amount) == (a, b, 50)
    assert balance(engine, a) == (0, 50, 0, 100)
    assert balance(engine, b) == (0, 0, 0, 50)
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        create_transfer(
            conn, req("void", None, None, None, kind=K.VOID_PENDING, ref_id="hold"), now=NOW
        )
    assert ei.value.code == "pending_transfer_already_posted"


def test_void_restores_balances_exactly(engine: Engine) -> None:
    sysa, a, b = setup_accounts(engine)
    with transaction(engine) as conn:
        create_transfers(
            conn,
            [req("fund", sysa["emission"], a, 100), req("hold", a, b, 70, kind=K.PENDING)],
            now=NOW,
        )
        create_transfer(
            conn, req("void", None, None, None, kind=K.VOID_PENDING, ref_id="hold"), now=NOW
        )
    assert balance(engine, a) == (0, 0, 0, 100)
    assert balance(engine, b) == (0, 0, 0, 0)
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        create_transfer(
            conn, req("post", None, None, None, kind=K.POST_PENDING, ref_id="hold"), now=NOW
        )
    assert ei.value.code == "pending_transfer_already_voided"


def test_pending_timeout_blocks_post_and_sweep_voids_once(engine: Engine) -> None:
    sysa, a, b = setup_accounts(engine)
    with transaction(engine) as conn:
        create_transfers(
            conn,
            [
                req("fund", sysa["emission"], a, 100),
                req("hold", a, b, 70, kind=K.PENDING, timeout_s=60),
            ],
            now=NOW,
        )
    later = NOW + dt.timedelta(seconds=61)
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        create_transfer(
            conn, req("post", None, None, None, kind=K.POST_PENDING, ref_id="hold"), now=later
        )
    assert ei.value.code == "pending_transfer_expired"
    with transaction(engine) as conn:
        assert expire_pending(conn, now=NOW + dt.timedelta(seconds=30)) == 0
        assert expire_pending(conn, now=later) == 1
    with transaction(engine) as conn:
        assert expire_pending(conn, now=later) == 0
    assert balance(engine, a) == (0, 0, 0, 100)


def test_reversal_moves_it_back_once(engine: Engine) -> None:
    sysa, a, _ = setup_accounts(engine)
    with transaction(engine) as conn:
        create_transfer(conn, req("oops", sysa["emission"], a, 42), now=NOW)
        rev = create_transfer(
            conn, req("fix", None, None, None, kind=K.REVERSAL, ref_id="oops"), now=NOW
        )
    assert (rev.debit_account_id, rev.credit_account_id, rev.amount) == (a, sysa["emission"], 42)
    assert balance(engine, a) == (0, 42, 0, 42)
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        create_transfer(
            conn, req("fix2", None, None, None, kind=K.REVERSAL, ref_id="oops"), now=NOW
        )
    assert ei.value.code == "transfer_already_reversed"


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"amount": 0}, "amount_must_be_positive", "amount"),
        ({"amount": -5}, "amount_must_be_positive", "amount"),
        ({"amount": 2**256}, "amount_too_large", "amount"),
        ({"amount": 1.5}, "amount_not_integer", "amount"),
        ({"credit": 999_999}, "account_not_found", "credit_account_id"),
        ({"tid": "has space"}, "id_invalid", "id"),
        ({"metadata": {"rate": 0.5}}, "metadata_invalid", "metadata"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    engine: Engine, kwargs: dict, code: str, field: str
) -> None:
    sysa, a, _ = setup_accounts(engine)
    args = {"tid": "bad", "debit": sysa["emission"], "credit": a, "amount": 5}
    args.update(kwargs)
    extra = {"metadata": args.pop("metadata")} if "metadata" in args else {}
    with pytest.raises(SwarmError) as ei, transaction(engine) as conn:
        create_transfer(
            conn, req(args["tid"], args["debit"], args["credit"], args["amount"], **extra), now=NOW
        )
    assert ei.value.code == code
    assert ei.value.field == field
    assert count_transfers(engine) == 0


def test_max_amount_is_stored_exactly(engine: Engine) -> None:
    sysa, a, _ = setup_accounts(engine)
    top = 2**256 - 1
    with transaction(engine) as conn:
        create_transfer(conn, req("max", sysa["emission"], a, top), now=NOW)
    assert balance(engine, a) == (0, 0, 0, top)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT amount::text FROM transfers")).scalar_one() == str(top)
        assert verify_ledger(conn).ok
