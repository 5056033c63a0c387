"""Closing reward epochs on the real ledger: exact payout, receipts, root, idempotency."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text

from ledger.accounting.service import verify_ledger
from ledger.epochs import service as epochs
from ledger.kit.db import make_engine, transaction
from ledger.kit.errors import Conflict
from ledger.params.domain import demo_params
from ledger.params.domain.epochs import epoch_settles_at
from ledger.rewards.domain.merkle import leaf_hash, verify_proof
from ledger.rewards.repository import RewardsRepository
from tests.integration.epoch_helpers import at, bond, future_epoch, send_epoch
from tests.integration.fleet import make_fleet

P = demo_params()  # 60 s epochs: one heartbeat per node per epoch
TYPES = ("gaming_pc", "workstation", "data_center", "edge_location", "storage_center")


def settled(epoch: int) -> int:
    return epoch_settles_at(epoch, P)


def reward_transfers(engine: Engine, epoch: int) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, amount::text FROM transfers WHERE code = 100 AND epoch = :e "
                 "ORDER BY id"), {"e": epoch}
        ).all()  # fmt: skip
    return [(r[0], int(r[1])) for r in rows]


@pytest.fixture
def fleet(engine: Engine) -> list:
    nodes = make_fleet(engine, 10, types=TYPES, params=P)
    return nodes


def test_close_pays_the_pool_exactly_with_receipts_and_a_root(engine: Engine, fleet: list) -> None:
    epoch = future_epoch(P)
    bond(engine, fleet, at(epoch * 60 - 1))
    assert send_epoch(engine, fleet, epoch, P) == 10
    with transaction(engine) as conn:
        res = epochs.close_epoch(conn, epoch, now=at(settled(epoch)), params=P)
    assert res.closed_now and res.rewards is not None
    e = res.epoch
    paid = reward_transfers(engine, epoch)
    assert sum(a for _, a in paid) == e.distributed_base_units == e.pool_base_units
    assert e.undistributed_base_units == 0 and e.eligible_nodes == 10
    with engine.connect() as conn:
        repo = RewardsRepository(conn)
        receipts = repo.receipts(epoch)
        leaves = repo.leaves(epoch)
        assert verify_ledger(conn).ok
        assert epochs.verify_epoch(conn, epoch, params=P).ok
    assert sum(amount for amount, _ in receipts.values()) == e.pool_base_units
    node_receipt = next(iter(receipts.values()))[1]
    for field in ("uptime_score_ppm", "type_multiplier_ppm", "params_hash", "ideal_base_units"):
        assert field in node_receipt
    for provider, (amount, cumulative, proof) in leaves.items():
        sibs = [proof[i : i + 32] for i in range(0, len(proof), 32)]
        assert verify_proof(e.merkle_root, leaf_hash(provider, cumulative), sibs)
        assert amount == cumulative  # first epoch: cumulative is this epoch


def test_closing_again_writes_nothing(engine: Engine, fleet: list) -> None:
    epoch = future_epoch(P)
    bond(engine, fleet, at(epoch * 60 - 1))
    send_epoch(engine, fleet, epoch, P)
    with transaction(engine) as conn:
        first = epochs.close_epoch(conn, epoch, now=at(settled(epoch)), params=P)
    with transaction(engine) as conn:
        again = epochs.close_epoch(conn, epoch, now=at(settled(epoch) + 99), params=P)
    assert not again.closed_now and again.epoch == first.epoch
    assert len(reward_transfers(engine, epoch)) == 1  # one provider


def test_two_concurrent_closes_pay_once(engine: Engine, fresh_db_url: str, fleet: list) -> None:
    epoch = future_epoch(P)
    bond(engine, fleet, at(epoch * 60 - 1))
    send_epoch(engine, fleet, epoch, P)
    eng = make_engine(fresh_db_url, app_role="swarm_ledger_app", pool_size=2)
    barrier = threading.Barrier(2)
    outcomes: list[bool] = []

    def close() -> None:
        barrier.wait()
        with transaction(eng) as conn:
            outcomes.append(epochs.close_epoch(conn, epoch, now=at(settled(epoch)),
                                               params=P).closed_now)  # fmt: skip

    threads = [threading.Thread(target=close) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eng.dispose()
    assert sorted(outcomes) == [False, True]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reward_receipts")).scalar_one() == 10
        assert verify_ledger(conn).ok


def test_not_settled_and_out_of_order_are_refused(engine: Engine, fleet: list) -> None:
    epoch = future_epoch(P)
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        epochs.close_epoch(conn, epoch, now=at(settled(epoch) - 1), params=P)
    assert ei.value.code == "epoch_not_settled"
    with transaction(engine) as conn:
        epochs.close_epoch(conn, epoch, now=at(settled(epoch)), params=P)
    with pytest.raises(Conflict) as ei, transaction(engine) as conn:
        epochs.close_epoch(conn, epoch + 2, now=at(settled(epoch + 2)), params=P)
    assert ei.value.code == "epoch_out_of_order"


def test_under_staked_and_silent_nodes_earn_nothing_and_cumulative_grows(
    engine: Engine, fleet: list
) -> None:
    epoch = future_epoch(P)
    # Under stake for more than the 24 h grace: no rewards. A provider under stake for less
    # than the grace still earns.
    staked = fleet[:5]
    unstaked = make_fleet(engine, 3, types=("gaming_pc",), params=P,
                          registered_at=at(epoch * 60 - 25 * 3600))  # fmt: skip
    in_grace = make_fleet(engine, 1, types=("gaming_pc",), params=P,
                          registered_at=at(epoch * 60 - 3600))  # fmt: skip
    bond(engine, staked, at(epoch * 60 - 1))
    silent = staked[0]
    for e in (epoch, epoch + 1):
        send_epoch(engine, staked + unstaked + in_grace, e, P,
                   shape=lambda n, k: None if n is silent else {})  # fmt: skip
        with transaction(engine) as conn:
            epochs.close_epoch(conn, e, now=at(settled(e)), params=P)
    with engine.connect() as conn:
        repo = RewardsRepository(conn)
        r = repo.receipts(epoch)
        assert r[silent.node_id][0] == 0
        assert "insufficient_heartbeats" in r[silent.node_id][1]["ineligible_reasons"]
        for n in unstaked:
            assert r[n.node_id][0] == 0 and r[n.node_id][1]["under_staked"] is True
        assert r[in_grace[0].node_id][0] > 0
        assert r[in_grace[0].node_id][1]["under_staked"] is False
        l1, l2 = repo.leaves(epoch), repo.leaves(epoch + 1)
        provider = staked[1].provider_id
        assert l2[provider][1] == l1[provider][1] + l2[provider][0] > l1[provider][1]
        assert unstaked[0].provider_id not in l2
        assert epochs.verify_epoch(conn, epoch + 1, params=P).ok


def test_verify_epoch_catches_a_tampered_rollup(engine: Engine, fresh_db_url: str,
                                                fleet: list) -> None:  # fmt: skip
    import psycopg

    from ledger.kit.embedded import libpq_url
    from ledger.telemetry import service as telemetry

    epoch = future_epoch(P)
    bond(engine, fleet, at(epoch * 60 - 1))
    send_epoch(engine, fleet, epoch, P, shape=lambda n, k: {"latency_ms_p50": 900})
    with transaction(engine) as conn:  # roll up, then tamper before the close reads it
        for b in conn.execute(text("SELECT id FROM telemetry_batches")).scalars():
            telemetry.rollup_batch(conn, b, now=at(settled(epoch)))
    with psycopg.connect(libpq_url(fresh_db_url), autocommit=True) as owner:
        owner.execute("UPDATE rollup_latency SET latency_ms = 1 WHERE node_id = %s",
                      (fleet[0].node_id,))  # fmt: skip
    with transaction(engine) as conn:
        epochs.close_epoch(conn, epoch, now=at(settled(epoch)), params=P)
    with engine.connect() as conn:
        check = epochs.verify_epoch(conn, epoch, params=P)
    assert not check.ok
    assert any(fleet[0].node_id in d for d in check.differences)
