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
    # Ten slots per 60 s demo epoch (a heartbeat every 6 s), ten nodes.
    assert send_epoch(engine, fleet, epoch, P) == 10 * 10
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
        # Earnings accumulate in the ledger; nothing is claimable (in a leaf) before maturity.
        t1, t2 = repo.reward_totals(epoch), repo.reward_totals(epoch + 1)
        provider = staked[1].provider_id
        assert t2[provider][1] == t1[provider][1] + t2[provider][0] > t1[provider][1]
        assert unstaked[0].provider_id not in t2
        assert repo.leaves(epoch + 1) == {}
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


def test_verify_epoch_uses_the_epochs_own_parameter_set(engine: Engine, fleet: list) -> None:
    """An epoch closed under the demo set verifies clean whatever set the caller runs with:
    the set is stored at the close and found again by the hash the epoch recorded."""
    from ledger.params.domain import DEFAULT_PARAMS
    from ledger.params.repository import ParamsRepository

    epoch = future_epoch(P)
    bond(engine, fleet, at(epoch * 60 - 1))
    send_epoch(engine, fleet, epoch, P)
    with transaction(engine) as conn:
        epochs.close_epoch(conn, epoch, now=at(settled(epoch)), params=P)
    assert DEFAULT_PARAMS.content_hash() != P.content_hash()
    with engine.connect() as conn:
        check = epochs.verify_epoch(conn, epoch, params=DEFAULT_PARAMS)
        assert check.ok, check.differences
        assert epochs.verify_epoch(conn, epoch).ok
        stored = ParamsRepository(conn).canonical_json(P.content_hash())
    assert stored == P.canonical_json()


def test_a_stored_parameter_set_is_immutable(engine: Engine, fresh_db_url: str) -> None:
    from ledger.params import service as params_service

    with transaction(engine) as conn:
        assert params_service.ensure_stored(conn, P) == P.content_hash()
        assert params_service.ensure_stored(conn, P) == P.content_hash()  # idempotent
    # The app role may not rewrite a set, and the trigger refuses even the owner.
    with pytest.raises(Exception, match="permission denied"), transaction(engine) as conn:
        conn.execute(text("UPDATE parameter_sets SET version = 99"))
    owner = make_engine(fresh_db_url)
    try:
        with pytest.raises(Exception, match="append-only"), transaction(owner) as conn:
            conn.execute(text("UPDATE parameter_sets SET version = 99"))
    finally:
        owner.dispose()
    with engine.connect() as conn, pytest.raises(Exception, match="not stored"):
        params_service.params_of_hash(conn, "0" * 64)


def test_rewards_mature_into_the_leaf_and_holds_never_reach_it(engine: Engine, fleet: list) -> None:
    """SPEC 4.7: a reward enters the provider's leaf (becomes claimable) only after the
    maturity delay; base units held (rewards-first slashing) never reach the leaf while held,
    a void lets them mature at the next close, and leaves never decrease."""
    import dataclasses

    from ledger.accounting.domain.transfers import TransferKind, TransferRequest
    from ledger.accounting.repository import LedgerRepository
    from ledger.accounting.service import create_transfers, open_system_accounts

    quick = dataclasses.replace(
        P,
        slashing=dataclasses.replace(P.slashing, appeal_window_s=60),
        epoch=dataclasses.replace(P.epoch, reward_maturity_s=180),  # 3 epochs
    )
    epoch = future_epoch(quick)
    bond(engine, fleet, at(epoch * 60 - 1))
    provider = fleet[0].provider_id
    paid: dict[int, int] = {}
    leaves = []
    for e in range(epoch, epoch + 6):
        # Two epochs of work, then silence: later epochs pay this provider nothing.
        send_epoch(engine, fleet, e, quick, shape=lambda n, k, e=e: {} if e < epoch + 2 else None)
        when = at(epoch_settles_at(e, quick))
        with transaction(engine) as conn:
            epochs.close_epoch(conn, e, now=when, params=quick)
            paid[e] = RewardsRepository(conn).reward_totals(e).get(provider, (0, 0))[0]
            accrued = LedgerRepository(conn).find_account(provider, "rewards_accrued", "SWARM")
            if e == epoch + 1:  # hold all but 1 base unit of both rewards, before maturity
                escrow = open_system_accounts(conn)["slash_escrow"]
                hold = TransferRequest("test-hold", accrued.id, escrow,
                                       paid[epoch] + paid[epoch + 1] - 1, 300,
                                       kind=TransferKind.PENDING)  # fmt: skip
                create_transfers(conn, [hold], now=when)
            if e == epoch + 4:  # the penalty is voided: the held units may mature now
                void = TransferRequest(
                    "test-hold:void", None, None, None, 303,
                    kind=TransferKind.VOID_PENDING, ref_id="test-hold",
                )  # fmt: skip
                create_transfers(conn, [void], now=when)
        with engine.connect() as conn:
            leaves.append(RewardsRepository(conn).leaves(e).get(provider, (0, 0))[1])
            assert epochs.verify_epoch(conn, e).ok
    assert paid[epoch] > 0 and paid[epoch + 1] > 0 and paid[epoch + 2] == 0
    # Nothing matures for three epochs; then only the 1 unit that was not held; after the
    # void everything matures. The leaf never decreases.
    assert leaves[:3] == [0, 0, 0]
    assert leaves[3] == leaves[4] == 1
    assert leaves[5] == paid[epoch] + paid[epoch + 1]
    assert leaves == sorted(leaves)
    with engine.connect() as conn:
        assert epochs.verify_leaves(conn) == []
    # A hold placed on claimable rewards (which nothing does) is caught by the invariant.
    with transaction(engine) as conn:
        claimable = LedgerRepository(conn).find_account(provider, "rewards_claimable", "SWARM")
        escrow = open_system_accounts(conn)["slash_escrow"]
        create_transfers(conn, [TransferRequest("bad-hold", claimable.id, escrow, 1, 300,
                                                kind=TransferKind.PENDING)],
                         now=at(epoch_settles_at(epoch + 6, quick)))  # fmt: skip
    with engine.connect() as conn:
        (breach,) = epochs.verify_leaves(conn)
    assert breach.startswith("nothing_held_in_claimable")


def test_the_market_factor_comes_from_stored_prices_and_the_epoch_says_so(
    engine: Engine, fleet: list
) -> None:
    """A fresh reference and current price move the pool (market factor 0.8 when the token
    trades 25% above its reference); the epoch records which prices it used. Without a fresh
    price the factor is 1.0 and the epoch records the price as stale."""
    import json

    from ledger.prices import service as prices

    epoch = future_epoch(P)
    bond(engine, fleet, at(epoch * 60 - 1))
    end = at((epoch + 1) * 60)
    with transaction(engine) as conn:
        for kind, price in (("reference", 1_000_000), ("current", 1_250_000)):
            prices.record_price(conn, kind=kind, price_micro_usd=price, observed_at=end,
                                source="test-oracle", now=end)  # fmt: skip
    for e in (epoch, epoch + 1):
        send_epoch(engine, fleet, e, P)
    # Epoch+1 ends 60 s later: still fresh (2 h). Push the next epochs past the max age.
    with transaction(engine) as conn:
        epochs.close_epoch(conn, epoch, now=at(settled(epoch)), params=P)
        epochs.close_epoch(conn, epoch + 1, now=at(settled(epoch + 1)), params=P)
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                text(
                    "SELECT epoch, json_build_object('scale', scale, 'network', network) "
                    "FROM reward_epochs WHERE epoch IN (:a, :b)"
                ),
                {"a": epoch, "b": epoch + 1},
            ).all()
        )
    first = rows[epoch] if isinstance(rows[epoch], dict) else json.loads(rows[epoch])
    assert first["scale"]["market_factor_ppm"] == 800_000
    assert first["network"]["price_feed"]["current"]["status"] == "fresh"
    assert first["network"]["price_feed"]["current"]["price_micro_usd"] == "1250000"
    assert first["network"]["current_price"] == 1_250_000
    # The same prices, judged for an epoch ending long after they were observed: stale.
    later = epoch + (P.pool.price_max_age_s // 60) + 5
    with engine.connect() as conn:
        feed = prices.feed_as_of(conn, at((later + 1) * 60), P)
    assert feed.reference_price is None and feed.status["current"] == "stale"


def test_the_rewards_endpoint_shows_claimable_now_and_what_matures_when(
    engine: Engine, fleet: list, fresh_db_url: str, redis_url: str
) -> None:
    from tests.integration.test_api import make_client, make_runtime

    epoch = future_epoch(P)
    bond(engine, fleet, at(epoch * 60 - 1))
    send_epoch(engine, fleet, epoch, P)
    with transaction(engine) as conn:
        epochs.close_epoch(conn, epoch, now=at(settled(epoch)), params=P)
    rt = make_runtime(engine, fresh_db_url, redis_url)
    rt.params = P
    provider = fleet[0].provider_id
    with make_client(rt) as client:
        body = client.get(f"/v1/providers/{provider}/rewards").json()
        unknown = client.get("/v1/providers/0x" + "9" * 40 + "/rewards")
        receipt = client.get(f"/v1/nodes/{fleet[0].node_id}/receipts").json()["items"][0]
        shown = client.get(f"/v1/epochs/{epoch}").json()
    assert unknown.status_code == 404
    assert body["cumulative_base_units"] == "0" and body["proof"] == [] and body["epoch"] is None
    (m,) = body["maturing"]
    lag = -(-P.epoch.reward_maturity_s // 60)
    assert m["epoch"] == epoch and int(m["amount_base_units"]) > 0
    assert m["matures_at"] == at(epoch_settles_at(epoch + lag, P)).isoformat()
    assert receipt["epoch"] == epoch and receipt["matures_at"] == m["matures_at"]
    # Each factor with the inputs it came from.
    assert shown["scale"]["market_factor_ppm"] == 1_000_000  # no price feed in this test
    assert shown["network"]["price_feed"]["current"]["status"] == "missing"
    assert 0 <= shown["network"]["resource_demand_supply_ppm"]["gpu"] <= 1_000_000
