"""Issue 15 point 3: a void restores the rewards the jail cost, epoch by closed epoch,
recomputed from the epoch's stored inputs with the node's fair standing, paid from the
insurance pool with its own receipt, never by editing the closed epoch."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ledger.accounting.domain import codes
from ledger.accounting.domain.transfers import TransferRequest
from ledger.accounting.repository import LedgerRepository
from ledger.accounting.service import create_transfer, open_system_accounts, verify_ledger
from ledger.epochs import restorations
from ledger.epochs import service as epochs
from ledger.kit.db import transaction
from ledger.params.domain import demo_params
from ledger.params.domain.epochs import epoch_settles_at
from ledger.rewards.repository import RewardsRepository
from ledger.slashing import service as slashing
from tests.integration.epoch_helpers import at, bond, future_epoch, send_epoch
from tests.integration.fleet import make_fleet

P = demo_params()  # 60 s epochs, 30 s settle grace
L, G = P.epoch.epoch_length_s, P.epoch.epoch_settle_grace_s


def close(engine: Engine, epoch: int) -> dict[str, tuple[int, dict]]:
    with transaction(engine) as conn:
        epochs.close_epoch(conn, epoch, now=at(epoch_settles_at(epoch, P)), params=P)
    with engine.connect() as conn:
        return RewardsRepository(conn).receipts(epoch)


def sweep(engine: Engine, when: dt.datetime) -> tuple[int, list[str]]:
    return restorations.restore_due(lambda: transaction(engine), now=when)


def fund_insurance(engine: Engine, amount: int) -> None:
    with transaction(engine) as conn:
        system = open_system_accounts(conn)
        create_transfer(conn, TransferRequest(f"fund-insurance-{amount}", system["emission"],
                                              system["insurance_pool"], amount, 1),
                        now=dt.datetime.now(dt.UTC))  # fmt: skip


def accrued_credits(engine: Engine, provider: str) -> int:
    with engine.connect() as conn:
        repo = LedgerRepository(conn)
        account = repo.find_account(provider, "rewards_accrued", "SWARM")
        assert account is not None
        return sum(
            t.amount
            for t in repo.stream_transfers()
            if t.credit_account_id == account.id and t.kind == "posted"
        )


def test_a_void_pays_back_every_closed_epoch_the_jail_cost(engine: Engine) -> None:
    e = future_epoch(P)
    nodes = make_fleet(engine, 2, types=("gaming_pc",), params=P)
    bond(engine, nodes, at(e * L - 1))
    for k in range(4):
        send_epoch(engine, nodes, e + k, P)
    jailed, fine = (n.node_id for n in nodes)
    provider = nodes[0].provider_id
    close(engine, e)
    with transaction(engine) as conn:  # reported during epoch e+1: jailed from e+1 on
        pen = slashing.report_violation(
            conn, kind="security_breach", node_id=jailed, evidence={"report": "restore-1"},
            severity="major", now=at(e * L + 66), params=P, infraction_at=at(e * L + 61),
        )  # fmt: skip
    paid1 = close(engine, e + 1)
    assert paid1[jailed][0] == 0 and paid1[jailed][1]["jailed"] is True
    # Voided after e+2's standing cutoff and before e+2 closes: e+1 and e+2 were computed
    # with the jail; e+2 closes later, still with it (its cutoff came first).
    void_at = (e + 2) * L + G + 5
    with transaction(engine) as conn:
        slashing.void_penalty(conn, penalty_id=pen.id, now=at(void_at), params=P)
    before = accrued_credits(engine, provider)

    # The insurance pool is empty: nothing is paid, nothing is written, it waits.
    written, refused = sweep(engine, at(void_at + 1))
    assert written == 0 and refused == [f"{pen.id}/{e + 1}: exceeds_credits"]
    fund_insurance(engine, 10**30)

    written, refused = sweep(engine, at(void_at + 2))
    assert (written, refused) == (1, [])
    with engine.connect() as conn:
        (r1,) = restorations.restorations_of(conn, pen.id)
    # Two identical nodes: with the jailed one eligible, epoch e+1's pool splits in two.
    pool1 = paid1[fine][0]
    assert r1["epoch"] == e + 1 and r1["paid_base_units"] == 0
    assert r1["fair_base_units"] in (pool1 // 2, pool1 - pool1 // 2)
    assert r1["restored_base_units"] == r1["fair_base_units"]
    assert r1["transfer_id"] == f"restore:{pen.id}:{e + 1}"
    assert r1["receipt"]["jailed"] is False and r1["fair_standing"]["status"] == "active"
    assert r1["receipt"]["amount_base_units"] == str(r1["fair_base_units"])

    paid2 = close(engine, e + 2)
    assert paid2[jailed][0] == 0  # the close itself still follows its cutoff
    assert sweep(engine, at(epoch_settles_at(e + 2, P) + 1)) == (1, [])
    paid3 = close(engine, e + 3)
    assert paid3[jailed][0] > 0  # after the void: paid by the close, nothing to restore
    assert sweep(engine, at(epoch_settles_at(e + 3, P) + 1)) == (0, [])

    with engine.connect() as conn:
        rows = restorations.restorations_of(conn, pen.id)
        assert [r["epoch"] for r in rows] == [e + 1, e + 2]
        restored = sum(r["restored_base_units"] for r in rows)
        # The closed epochs are untouched and still verify; the ledger balances.
        for epoch in (e + 1, e + 2):
            assert epochs.verify_epoch(conn, epoch, params=P).ok
            assert RewardsRepository(conn).receipts(epoch)[jailed][0] == 0
        assert verify_ledger(conn).ok
        restores = [
            t for t in LedgerRepository(conn).stream_transfers()
            if t.code == codes.SLASH_REWARD_RESTORE
        ]  # fmt: skip
    assert sorted(t.id for t in restores) == [f"restore:{pen.id}:{e + k}" for k in (1, 2)]
    same = nodes[1].provider_id == provider
    paid3_provider = paid3[jailed][0] + (paid3[fine][0] if same else 0)
    paid2_provider = paid2[fine][0] if same else 0
    assert accrued_credits(engine, provider) == before + restored + paid2_provider + paid3_provider
    # Idempotent: a second sweep, or a direct retry, pays nothing more.
    assert sweep(engine, at(epoch_settles_at(e + 3, P) + 2)) == (0, [])
    with transaction(engine) as conn:
        again = restorations.restore_epoch(conn, pen.id, e + 1, now=at(void_at + 99))
    assert again == rows[0]
    # Append-only, like every table of the ledger.
    with (
        pytest.raises(DBAPIError, match=r"permission denied|append-only"),
        transaction(engine) as conn,
    ):
        conn.exec_driver_sql("UPDATE reward_restorations SET restored_base_units = 0")


def test_two_voided_jails_of_one_epoch_restore_it_once_in_full(engine: Engine) -> None:
    """Each restoration leaves out every reversed penalty of the node, and pays only what
    earlier restorations of the same node and epoch did not."""
    e = future_epoch(P)
    nodes = make_fleet(engine, 2, types=("gaming_pc",), params=P)
    bond(engine, nodes, at(e * L - 1))
    for k in range(2):
        send_epoch(engine, nodes, e + k, P)
    jailed, fine = (n.node_id for n in nodes)
    close(engine, e)
    with transaction(engine) as conn:
        pens = [
            slashing.report_violation(
                conn, kind="security_breach", node_id=jailed, evidence={"report": f"twice-{i}"},
                severity="major", now=at(e * L + 66 + i), params=P,
                infraction_at=at(e * L + 61 + i),
            )
            for i in range(2)
        ]  # fmt: skip
    paid = close(engine, e + 1)
    assert paid[jailed][0] == 0
    fund_insurance(engine, 10**30 + 1)
    with transaction(engine) as conn:
        slashing.void_penalty(conn, penalty_id=pens[0].id, now=at((e + 1) * L + G + 5), params=P)
    # One void alone changes nothing: the other penalty still jails the node in e+1.
    assert sweep(engine, at((e + 1) * L + G + 6)) == (1, [])
    with engine.connect() as conn:
        (first,) = restorations.restorations_of(conn, pens[0].id)
    assert first["restored_base_units"] == 0 and first["transfer_id"] is None
    assert first["fair_standing"]["status"] == "jailed"
    with transaction(engine) as conn:
        slashing.void_penalty(conn, penalty_id=pens[1].id, now=at((e + 1) * L + G + 7), params=P)
    assert sweep(engine, at((e + 1) * L + G + 8)) == (1, [])
    with engine.connect() as conn:
        (second,) = restorations.restorations_of(conn, pens[1].id)
    pool = paid[fine][0]
    assert second["restored_base_units"] in (pool // 2, pool - pool // 2)
    assert second["fair_standing"]["status"] == "active"


def test_an_unreplayable_penalty_never_blocks_the_others(engine: Engine) -> None:
    """A penalty reversed so long after its decision that its span is too long to replay is
    logged and left out; another penalty's restoration still goes through in the same sweep."""
    from ledger.slashing.standing import MAX_RESTORATION_EPOCHS

    e = future_epoch(P)
    nodes = make_fleet(engine, 2, types=("gaming_pc",), params=P)
    bond(engine, nodes, at(e * L - 1))
    for k in range(3):
        send_epoch(engine, nodes, e + k, P)
    jailed = nodes[0].node_id
    close(engine, e)
    with transaction(engine) as conn:
        pens = [
            slashing.report_violation(
                conn, kind="security_breach", node_id=jailed, evidence={"report": f"skip-{i}"},
                severity="major", now=at(e * L + 66 + i), params=P,
                infraction_at=at(e * L + 61 + i),
            )
            for i in range(2)
        ]  # fmt: skip
    close(engine, e + 1)
    late = (e + 1) * L + (MAX_RESTORATION_EPOCHS + 5) * L
    with transaction(engine) as conn:
        slashing.void_penalty(conn, penalty_id=pens[0].id, now=at((e + 1) * L + G + 5), params=P)
        slashing.void_penalty(conn, penalty_id=pens[1].id, now=at(late), params=P)
    fund_insurance(engine, 10**30 + 2)
    assert sweep(engine, at(late + 1)) == (1, [])
    with engine.connect() as conn:
        (row,) = restorations.restorations_of(conn, pens[0].id)
        assert restorations.restorations_of(conn, pens[1].id) == []
    assert row["restored_base_units"] > 0
