"""Signed telemetry ingestion against real PostgreSQL and Redis, through the HTTP API."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from ledger.kit.db import transaction
from ledger.kit.limits import MAX_TELEMETRY_BATCH, NODE_RATE_WINDOW_S
from ledger.params.domain import DEFAULT_PARAMS
from ledger.registry import service as registry
from ledger.runtime import Runtime
from ledger.telemetry import service as telemetry
from ledger.telemetry.redis_store import read_counters
from tests.integration.fleet import FleetNode, make_fleet, now_ts
from tests.integration.test_api import make_client, make_runtime


@pytest.fixture
def runtime(engine: Engine, fresh_db_url: str, redis_url: str) -> Runtime:
    return make_runtime(engine, fresh_db_url, redis_url)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with make_client(runtime) as c:
        yield c


def post(client: TestClient, beats: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post("/v1/telemetry", json={"heartbeats": beats})
    assert r.status_code in (200, 429), r.text
    return r.json()


def statuses(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(x["status"], x.get("reason")) for x in body["results"]]


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM heartbeats")).scalar_one())


def counters_delta(rt: Runtime, before: dict[str, int]) -> dict[str, int]:
    after = read_counters(rt.redis_client)
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_accepted_once_then_duplicate(client: TestClient, engine: Engine, runtime: Runtime) -> None:
    (node,) = make_fleet(engine, 1)
    before = read_counters(runtime.redis_client)
    hb = node.heartbeat(now_ts())
    first = post(client, [hb])
    assert statuses(first) == [("accepted", None)] and first["batch_id"]
    again = post(client, [hb])  # replay of the same signed heartbeat
    assert statuses(again) == [("duplicate", None)] and again["batch_id"] is None
    assert stored(engine) == 1
    assert counters_delta(runtime, before) == {"accepted": 1, "duplicate": 1}


def test_duplicate_inside_one_batch(client: TestClient, engine: Engine) -> None:
    (node,) = make_fleet(engine, 1)
    hb = node.heartbeat(now_ts())
    body = post(client, [hb, hb, node.heartbeat(now_ts())])
    assert statuses(body) == [("accepted", None), ("duplicate", None), ("accepted", None)]
    assert stored(engine) == 2


def test_forged_and_tampered_signatures_are_rejected(client: TestClient, engine: Engine,
                                                     runtime: Runtime) -> None:  # fmt: skip
    a, b = make_fleet(engine, 2)
    before = read_counters(runtime.redis_client)
    forged = a.heartbeat(now_ts(), key=b.key)  # signed by another node's key
    tampered = a.heartbeat(now_ts())
    tampered["jobs_ok"] += 1000  # changed after signing
    garbage = a.heartbeat(now_ts())
    garbage["signature"] = "0x" + "11" * 65
    body = post(client, [forged, tampered, garbage])
    assert statuses(body) == [("rejected", "bad_signature")] * 3
    assert all(x["field"] == "signature" for x in body["results"])
    assert stored(engine) == 0
    assert counters_delta(runtime, before) == {"rejected:bad_signature": 3}


@pytest.mark.parametrize("offset_s", [600, -7200, 10**9, 301, -301])
def test_clock_skew_is_rejected(client: TestClient, engine: Engine, offset_s: int) -> None:
    (node,) = make_fleet(engine, 1)
    body = post(client, [node.heartbeat(now_ts() + offset_s)])
    assert statuses(body) == [("rejected", "timestamp_out_of_range")]
    assert stored(engine) == 0


def test_within_skew_is_accepted(client: TestClient, engine: Engine) -> None:
    """Late heartbeats are accepted up to the skew (300 s); early ones up to one heartbeat
    interval (60 s) ahead, so nobody can fill future slots in advance and then go quiet."""
    (node,) = make_fleet(engine, 1)
    now = now_ts()
    body = post(client, [node.heartbeat(now - 250), node.heartbeat(now + 50),
                         node.heartbeat(now + 250)])  # fmt: skip
    assert statuses(body) == [
        ("accepted", None), ("accepted", None), ("rejected", "timestamp_out_of_range"),
    ]  # fmt: skip


def test_unknown_and_deregistered_nodes(client: TestClient, engine: Engine,
                                        runtime: Runtime) -> None:  # fmt: skip
    a, b = make_fleet(engine, 2)
    ghost = FleetNode("ghost-node", a.key, a.provider_id, "gaming_pc")
    with transaction(engine) as conn:
        registry.deregister_node(
            conn, node_id=b.node_id, params=runtime.params, now=dt.datetime.now(dt.UTC)
        )
    body = post(client, [ghost.heartbeat(now_ts()), b.heartbeat(now_ts()), a.heartbeat(now_ts())])
    assert statuses(body) == [
        ("rejected", "unknown_node"),
        ("rejected", "deregistered_node"),
        ("accepted", None),
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", -1), ("seq", "7"), ("seq", 1.5), ("ts", None), ("up", 1), ("gpu_util_ppm", 10**7),
        ("latency_ms_p50", -3), ("jobs_ok", True), ("user_rating", 6), ("user_rating", 0),
        ("bandwidth_mbps", 2.0), ("signature", "0x12"), ("node_id", ""), ("node_id", 5),
    ],
)  # fmt: skip
def test_malformed_item_is_rejected_naming_the_field(client: TestClient, engine: Engine,
                                                     field: str, value: Any) -> None:  # fmt: skip
    (node,) = make_fleet(engine, 1)
    bad = node.heartbeat(now_ts())
    bad[field] = value
    good = node.heartbeat(now_ts())
    body = post(client, [bad, good])
    assert body["results"][0] == {"index": 0, "status": "rejected",
                                  "reason": "malformed_field", "field": field}  # fmt: skip
    assert body["results"][1]["status"] == "accepted"


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ([], 422, "body"),
        ({"heartbeats": "x"}, 422, "heartbeats"),
        ({"heartbeats": []}, 422, "heartbeats"),
        ({"nope": []}, 422, "heartbeats"),
        ({"heartbeats": [{}] * (MAX_TELEMETRY_BATCH + 1)}, 413, "heartbeats"),
    ],
)
def test_malformed_batch_is_a_4xx_naming_the_field(client: TestClient, payload: Any, status: int,
                                                   field: str) -> None:  # fmt: skip
    r = client.post("/v1/telemetry", json=payload)
    assert r.status_code == status
    assert r.json()["error"]["field"] == field


def test_not_json_is_a_400(client: TestClient) -> None:
    r = client.post("/v1/telemetry", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_seq_far_behind_is_rejected(client: TestClient, engine: Engine, runtime: Runtime) -> None:
    (node,) = make_fleet(engine, 1)
    window = runtime.params.telemetry.seq_reorder_window
    post(client, [node.heartbeat(now_ts(), seq=window + 50)])
    body = post(client, [node.heartbeat(now_ts(), seq=49), node.heartbeat(now_ts(), seq=50)])
    assert statuses(body) == [("rejected", "seq_too_old"), ("accepted", None)]


def test_per_node_rate_limit(client: TestClient, engine: Engine, runtime: Runtime) -> None:
    a, b = make_fleet(engine, 2)
    # The limit is a fixed 60 s window: don't straddle a window boundary.
    while now_ts() % NODE_RATE_WINDOW_S > NODE_RATE_WINDOW_S - 3:
        time.sleep(0.2)
    r = client.post("/v1/telemetry", json={"heartbeats": [a.heartbeat(now_ts()) for _ in range(12)]
                                           + [b.heartbeat(now_ts())]})  # fmt: skip
    body = r.json()
    got = statuses(body)
    assert got.count(("accepted", None)) == 11  # a: 10 of 12 (the limit), b: 1
    assert got.count(("rejected", "rate_limited")) == 2
    r = client.post("/v1/telemetry", json={"heartbeats": [a.heartbeat(now_ts())]})
    assert r.status_code == 429 and r.headers["retry-after"]
    assert r.json()["results"][0]["reason"] == "rate_limited"


def test_rollup_is_exactly_once_and_matches_raw(engine: Engine, runtime: Runtime,
                                                client: TestClient) -> None:  # fmt: skip
    nodes = make_fleet(engine, 3)
    t = now_ts()
    ids = []
    for k in range(3):
        beats = [
            n.heartbeat(t, up=(k != 1), latency_ms_p50=30 + 10 * k, jobs_failed=k,
                        user_rating=k + 2)
            for n in nodes
        ]  # fmt: skip
        body = post(client, beats)
        ids.append(body["batch_id"])
    now = dt.datetime.now(dt.UTC)
    with transaction(engine) as conn:
        assert [telemetry.rollup_batch(conn, b, now=now) for b in ids] == [3, 3, 3]
        assert [telemetry.rollup_batch(conn, b, now=now) for b in ids] == [None] * 3
    epoch = t // runtime.params.epoch.epoch_length_s
    node_ids = [n.node_id for n in nodes]
    with engine.connect() as conn:
        stored_r = telemetry.epoch_rollups(conn, epoch, runtime.params, node_ids)
        raw_r = telemetry.epoch_rollups_from_raw(conn, epoch, runtime.params, node_ids)
    assert stored_r == raw_r
    r0 = stored_r[node_ids[0]]
    # Three heartbeats in one interval slot fill it once (up: any of them said up); jobs,
    # latencies and ratings add up over every heartbeat.
    assert (r0.heartbeats_received, r0.heartbeats_up, r0.jobs_failed, r0.latency_p50_ms) == (
        1, 1, 3, 40,
    )  # fmt: skip
    assert r0.heartbeats_accepted == 3
    assert (r0.rating_sum, r0.rating_count) == (2 + 3 + 4, 3)


def test_redis_down_does_not_lose_an_accepted_batch(engine: Engine, fresh_db_url: str) -> None:
    rt = make_runtime(engine, fresh_db_url, "redis://127.0.0.1:1/0")
    with make_client(rt) as c:
        (node,) = make_fleet(engine, 1)
        r = c.post("/v1/telemetry", json={"heartbeats": [node.heartbeat(now_ts())]})
    # Redis carries only rate windows, counters and rollup messages: with it down the request
    # fails before anything is stored (the rate limiter), or it is stored and swept later.
    assert r.status_code in (200, 503)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM heartbeats")).scalar_one()
        pending = conn.execute(
            text("SELECT count(*) FROM telemetry_batches WHERE rolled_at IS NULL")
        ).scalar_one()
    assert n == pending == (1 if r.status_code == 200 else 0)


def test_redis_client_is_real(redis_url: str) -> None:
    assert redis.Redis.from_url(redis_url).ping()


def test_a_replayed_heartbeat_never_blocks_the_node(client: TestClient, engine: Engine) -> None:
    """An attacker who captured one signed heartbeat replays it many times: every replay is a
    duplicate (never rate_limited, never counted against the node), and the node's genuine
    next heartbeats are all accepted."""
    (node,) = make_fleet(engine, 1)
    while now_ts() % NODE_RATE_WINDOW_S > NODE_RATE_WINDOW_S - 5:
        time.sleep(0.2)
    captured = node.heartbeat(now_ts())
    assert statuses(post(client, [captured])) == [("accepted", None)]
    for _ in range(15):
        assert statuses(post(client, [captured])) == [("duplicate", None)]
    assert statuses(post(client, [captured] * 20)) == [("duplicate", None)] * 20
    genuine = [node.heartbeat(now_ts()) for _ in range(9)]
    assert statuses(post(client, genuine)) == [("accepted", None)] * 9


def test_the_client_verification_budget_comes_before_any_signature(engine: Engine) -> None:
    """Past its budget a request's items are refused before their signature is recovered:
    a forged flood buys no CPU (here the forged items would otherwise be bad_signature)."""
    (node,) = make_fleet(engine, 1)
    now = dt.datetime.now(dt.UTC)
    good = node.heartbeat(now_ts())
    forged = [{**node.heartbeat(now_ts()), "signature": "0x" + "11" * 65} for _ in range(3)]
    with transaction(engine) as conn:
        res = telemetry.ingest(
            conn, [good, *forged], now=now, params=DEFAULT_PARAMS, verify_budget=2
        )
    got = [(r.status.value, r.reason.value if r.reason else None) for r in res.results]
    assert got == [("accepted", None), ("rejected", "bad_signature"),
                   ("rejected", "rate_limited"), ("rejected", "rate_limited")]  # fmt: skip
