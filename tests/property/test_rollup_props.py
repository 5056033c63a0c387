"""Rollups are order-independent: any order, any split into batches, the same rollup."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from ledger.kit.db import transaction
from ledger.params.domain import DEFAULT_PARAMS
from ledger.telemetry import service as telemetry
from ledger.telemetry.domain import Heartbeat, lower_median, rollup
from tests.integration.fleet import make_fleet

heartbeats = st.lists(
    st.builds(
        Heartbeat,
        node_id=st.just("n"),
        seq=st.integers(1, 10**6),
        ts=st.integers(0, 3599),
        up=st.booleans(),
        gpu_util_ppm=st.integers(0, 1_000_000),
        latency_ms_p50=st.integers(0, 2_000),
        jobs_ok=st.integers(0, 50),
        jobs_failed=st.integers(0, 50),
        bandwidth_mbps=st.integers(0, 10_000),
        user_rating=st.one_of(st.none(), st.integers(1, 5)),
    ),
    max_size=80,
    unique_by=lambda h: h.seq,
)


@given(beats=heartbeats, seed=st.integers(0, 2**32))
def test_rollup_ignores_order(beats: list[Heartbeat], seed: int) -> None:
    shuffled = list(beats)
    random.Random(seed).shuffle(shuffled)
    a = rollup("n", 0, beats, heartbeats_expected=60, epoch_start_s=0, interval_s=60)
    b = rollup("n", 0, shuffled, heartbeats_expected=60, epoch_start_s=0, interval_s=60)
    assert a == b
    # A slot counts once: never more received or up slots than slots, or than heartbeats.
    assert a.heartbeats_up <= a.heartbeats_received <= min(60, len(beats))
    assert a.heartbeats_accepted == len(beats)


@given(hist=st.dictionaries(st.integers(0, 1000), st.integers(1, 20), max_size=30))
def test_lower_median_is_the_sorted_middle(hist: dict[int, int]) -> None:
    values = sorted(v for v, n in hist.items() for _ in range(n))
    expected = values[(len(values) - 1) // 2] if values else None
    assert lower_median(hist) == expected


@pytest.mark.integration
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_stored_rollup_is_the_same_for_any_order_and_split(
    shared_engine: Engine, data: st.DataObject
) -> None:
    """Two nodes receive the same heartbeat contents, in different orders and batch splits,
    through the real ingest and rollup path: their rollups are equal and equal the raw one."""
    a, b = make_fleet(shared_engine, 2)
    now = dt.datetime.now(dt.UTC)
    base = int(now.timestamp())
    n = data.draw(st.integers(1, 40))
    contents = [
        data.draw(
            st.fixed_dictionaries({
                "up": st.booleans(), "latency_ms_p50": st.integers(0, 500),
                "jobs_ok": st.integers(0, 20), "jobs_failed": st.integers(0, 20),
                "user_rating": st.one_of(st.none(), st.integers(1, 5)),
                # Early heartbeats are accepted at most one interval ahead of the clock.
                "dt": st.integers(-200, 60),
            })
        )
        for _ in range(n)
    ]  # fmt: skip

    def send(node, order: list[int], cuts: list[int]) -> None:  # type: ignore[no-untyped-def]
        beats = [node.heartbeat(base + contents[i]["dt"], seq=i + 1,
                                **{k: v for k, v in contents[i].items() if k != "dt"})
                 for i in order]  # fmt: skip
        bounds = [0, *sorted(set(cuts)), len(beats)]
        for lo, hi in itertools.pairwise(bounds):
            if lo == hi:
                continue
            with transaction(shared_engine) as conn:
                res = telemetry.ingest(conn, beats[lo:hi], now=now, params=DEFAULT_PARAMS)
            assert all(r.status == "accepted" for r in res.results), res.results
            with transaction(shared_engine) as conn:
                telemetry.rollup_batch(conn, res.batch_id or 0, now=now)

    order_b = data.draw(st.permutations(list(range(n))))
    send(a, list(range(n)), [])
    send(b, list(order_b), data.draw(st.lists(st.integers(0, n), max_size=5)))
    epochs = {(base + c["dt"]) // DEFAULT_PARAMS.epoch.epoch_length_s for c in contents}
    with shared_engine.connect() as conn:
        for epoch in epochs:
            ids = [a.node_id, b.node_id]
            stored = telemetry.epoch_rollups(conn, epoch, DEFAULT_PARAMS, ids)
            raw = telemetry.epoch_rollups_from_raw(conn, epoch, DEFAULT_PARAMS, ids)
            assert stored == raw
            ra, rb = stored[a.node_id], stored[b.node_id]
            assert ra.heartbeats_received > 0 or rb.heartbeats_received == 0

            def summary(r):  # type: ignore[no-untyped-def]
                return (r.heartbeats_received, r.heartbeats_up, r.jobs_ok, r.jobs_failed,
                        r.latency_p50_ms, r.rating_sum, r.rating_count,
                        dict(r.latency_histogram))  # fmt: skip

            assert summary(ra) == summary(rb)
