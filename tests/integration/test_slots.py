"""Uptime per interval slot (SPEC 3): early heartbeats never buy uptime for the rest of the
epoch; a node that beats once per slot, with jitter, is fully up."""

from __future__ import annotations

import random

from sqlalchemy import Engine

from ledger.epochs import service as epochs
from ledger.kit.db import transaction
from ledger.params.domain import DEFAULT_PARAMS as P
from ledger.rewards.domain import eligibility_reasons
from ledger.telemetry import service as telemetry
from tests.integration.epoch_helpers import at, future_epoch
from tests.integration.fleet import make_fleet


def _ingest(engine: Engine, node, ts: int, seq: int) -> str:  # type: ignore[no-untyped-def]
    with transaction(engine) as conn:
        res = telemetry.ingest(conn, [node.heartbeat(ts, seq=seq)], now=at(ts), params=P)
    return res.results[0].status.value


def test_sixty_heartbeats_in_six_minutes_score_ten_percent_and_earn_nothing(
    engine: Engine,
) -> None:
    cheat, honest = make_fleet(engine, 2, params=P)
    epoch = future_epoch(P)
    start = epoch * P.epoch.epoch_length_s
    rng = random.Random(7)
    for k in range(60):
        # The cheat sends every 6 s for the first 6 minutes, then goes quiet.
        assert _ingest(engine, cheat, start + 6 * k, k + 1) == "accepted"
        # The honest node beats once per 60 s slot with a few seconds of jitter.
        assert _ingest(engine, honest, start + 60 * k + rng.randint(0, 5), k + 1) == "accepted"
    with transaction(engine) as conn:
        telemetry.catch_up(conn, now=at(start + 3_600))
        rollups = telemetry.epoch_rollups(conn, epoch, P, [cheat.node_id, honest.node_id])
        raw = telemetry.epoch_rollups_from_raw(conn, epoch, P, [cheat.node_id, honest.node_id])
    assert rollups == raw
    c, h = rollups[cheat.node_id], rollups[honest.node_id]
    assert c.heartbeats_accepted == 60 and c.heartbeats_received == 6 == c.heartbeats_up
    assert c.uptime_ppm == 100_000 and h.uptime_ppm == 1_000_000
    with transaction(engine) as conn:
        inputs, _ = epochs.gather_inputs(conn, epoch, P)
    by = {n.node_id: n for n in inputs}
    assert "insufficient_heartbeats" in eligibility_reasons(by[cheat.node_id], P)
    assert eligibility_reasons(by[honest.node_id], P) == ()


def test_a_heartbeat_more_than_one_interval_early_is_refused(engine: Engine) -> None:
    (node,) = make_fleet(engine, 1, params=P)
    epoch = future_epoch(P)
    start = epoch * P.epoch.epoch_length_s
    with transaction(engine) as conn:
        res = telemetry.ingest(
            conn, [node.heartbeat(start + 61, seq=1), node.heartbeat(start + 60, seq=2)],
            now=at(start), params=P,
        )  # fmt: skip
    assert [r.status.value for r in res.results] == ["rejected", "accepted"]


def test_a_node_that_joins_mid_epoch_is_not_down_for_the_slots_before_it_existed(
    engine: Engine,
) -> None:
    from ledger.params.domain import demo_params

    demo = demo_params()  # 60 s epochs, 10 slots of 6 s
    epoch = future_epoch(demo)
    start = epoch * 60
    (node,) = make_fleet(engine, 1, params=demo, registered_at=at(start + 27))
    for k, slot in enumerate(range(5, 10)):  # slots 5..9: from the first one after joining
        with transaction(engine) as conn:
            res = telemetry.ingest(conn, [node.heartbeat(start + 6 * slot + 1, seq=k + 1)],
                                   now=at(start + 6 * slot + 1), params=demo)  # fmt: skip
        assert res.results[0].status.value == "accepted"
    with transaction(engine) as conn:
        telemetry.catch_up(conn, now=at(start + 60))
        r = telemetry.epoch_rollups(conn, epoch, demo, [node.node_id])[node.node_id]
        raw = telemetry.epoch_rollups_from_raw(conn, epoch, demo, [node.node_id])[node.node_id]
    assert r == raw
    # Slots 0..4 began before it was registered (at 27 s): excused, not downtime.
    assert (r.heartbeats_excused, r.heartbeats_received, r.uptime_ppm) == (5, 5, 1_000_000)
    assert r.availability_ppm == 500_000  # it earns for the half of the epoch it was on duty
