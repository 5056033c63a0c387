"""Telemetry benchmark: signed heartbeats over HTTP until rolled up, against signature
verification alone over the same heartbeats on the same cores, in the same run.

    .venv/bin/python -m bench.telemetry_bench [--nodes 10000] [--ticks 3] [--api-workers 2]

Starts the API (`swarm-ledger api --workers N`) and one Celery worker as separate processes on
a fresh database (DATABASE_URL or the embedded PostgreSQL; REDIS_URL or the embedded Valkey),
registers the nodes, pre-signs every heartbeat, then times: POST all batches (4 client
threads) until every batch is rolled up. Baseline: recover every signer (the irreducible
cost) with as many processes as the API has. Goals (issue 3): end-to-end >= 50% of the
verification-only rate and >= 5,000 heartbeats/s.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import hashlib
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from bench.common import fresh_db, server_url
from ledger.kit.embedded import (
    libpq_url,
    start_embedded_valkey,
)
from ledger.kit.signing import heartbeat_message, recover
from ledger.params.domain import DEFAULT_PARAMS
from ledger.registry.domain import HardwareProfile, capacity_units_ppm
from ledger.simulator import HARDWARE, make_fleet, tick

PORT = 18731
BATCH = 1_000
CLIENT_THREADS = 4


def servers(tmp: Path) -> tuple[str, str]:
    rd = os.environ.get("REDIS_URL")
    return server_url(tmp), rd or start_embedded_valkey(tmp)


def register_bulk(url: str, fleet: list[Any]) -> None:
    """Set-up, not measured: providers and nodes written in bulk (same rows as the API's)."""
    params = DEFAULT_PARAMS
    with psycopg.connect(libpq_url(url)) as c:
        providers = sorted({n.provider_id for n in fleet})
        c.cursor().executemany(
            "INSERT INTO providers (id, payout_address) VALUES (%s, %s)",
            [(p, p) for p in providers],
        )
        rows = []
        for n in fleet:
            cat = params.providers.type(n.provider_type).category
            hw = HARDWARE[cat]
            fp = hashlib.sha256(n.node_id.encode()).hexdigest()
            cap = capacity_units_ppm(HardwareProfile(**hw, fingerprint=fp), params)
            rows.append((n.node_id, 1, n.provider_id, n.provider_type, n.region, n.address, fp,
                         cap, "active"))  # fmt: skip
        with (
            c.cursor() as cur,
            cur.copy(
                "COPY nodes (node_id, version, provider_id, provider_type, region, node_address, "
                "fingerprint, capacity_units_ppm, status) FROM STDIN"
            ) as cp,
        ):
            for r in rows:
                cp.write_row(r)


def _verify_chunk(items: list[dict[str, Any]]) -> int:
    ok = 0
    for hb in items:
        msg = heartbeat_message(
            hb["node_id"], hb["seq"], hb["ts"], hb["up"], hb["gpu_util_ppm"],
            hb["latency_ms_p50"], hb["jobs_ok"], hb["jobs_failed"], hb["bandwidth_mbps"],
            hb.get("user_rating"),
        )  # fmt: skip
        ok += recover(msg, hb["signature"]) is not None
    return ok


def verify_only(beats: list[dict[str, Any]], procs: int) -> float:
    chunks = [beats[i::procs] for i in range(procs)]
    with mp.get_context("fork").Pool(procs) as pool:
        t0 = time.perf_counter()
        assert sum(pool.map(_verify_chunk, chunks)) == len(beats)
        return len(beats) / (time.perf_counter() - t0)


def wait_http(url: str, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("API did not come up")


def pending(url: str) -> tuple[int, int]:
    with psycopg.connect(libpq_url(url)) as c:
        row = c.execute(
            "SELECT (SELECT count(*) FROM telemetry_batches WHERE rolled_at IS NULL), "
            "(SELECT coalesce(sum(received), 0) FROM node_epoch_rollups)"
        ).fetchone()
    return int(row[0]), int(row[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--ticks", type=int, default=3)
    ap.add_argument("--api-workers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="swarm-tbench-"))
    pg, rd = servers(tmp)
    url = fresh_db(pg)
    fleet = make_fleet(args.nodes, seed=11, mix={"healthy": 1.0}, prefix="bench")
    register_bulk(url, fleet)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": rd, "SWARM_DATA_DIR": str(tmp),
           "SWARM_API_PORT": str(PORT)}  # fmt: skip
    api = subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", "api", "--no-migrate", "--workers",
         str(args.api_workers), "--port", str(PORT)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-P", "solo",
         "--without-gossip", "--without-mingle", "-l", "WARNING"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{PORT}"
        wait_http(base)
        import random

        rng = random.Random(5)
        now = int(dt.datetime.now(dt.UTC).timestamp())
        beats = [hb for _ in range(args.ticks) for hb in tick(fleet, now, rng)]
        batches = [beats[i : i + BATCH] for i in range(0, len(beats), BATCH)]
        total = len(beats)

        bodies = [orjson.dumps({"heartbeats": b}) for b in batches]

        def post(body: bytes) -> int:
            with httpx.Client(base_url=base, timeout=120) as client:
                r = client.post(
                    "/v1/telemetry", content=body, headers={"content-type": "application/json"}
                )
                r.raise_for_status()
                return int(r.json()["accepted"])

        cpu0 = cpu_by_role(api.pid, worker.pid)
        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(CLIENT_THREADS) as ex:
            accepted = sum(ex.map(post, bodies))
        t_ingest = time.perf_counter() - t0
        while True:
            left, counted = pending(url)
            if left == 0:
                break
            time.sleep(0.05)
        t_all = time.perf_counter() - t0
        cpu1 = cpu_by_role(api.pid, worker.pid)
        assert accepted == total == counted, (accepted, total, counted)
    finally:
        api.terminate()
        worker.terminate()
        api.wait(timeout=30)
        worker.wait(timeout=30)
    e2e = total / t_all
    verify = verify_only(beats, args.api_workers)
    verify1 = verify_only(beats, 1)
    print(f"{total:,} heartbeats ({args.nodes:,} nodes x {args.ticks}), "
          f"{args.api_workers} API processes + 1 Celery worker")  # fmt: skip
    print(f"end to end (HTTP, verify, store, roll up): {e2e:,.0f} heartbeats/s "
          f"(accepted over HTTP in {t_ingest:.2f}s, rolled up by {t_all:.2f}s)")  # fmt: skip
    print(f"verification only, {args.api_workers} processes: {verify:,.0f}/s "
          f"(1 process: {verify1:,.0f}/s)")  # fmt: skip
    print(f"ratio {e2e / verify:.0%} (goals >= 50% and >= 5,000/s)")
    spent = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
    print("CPU seconds during the run: " + ", ".join(f"{k} {v:.2f}" for k, v in spent.items())
          + f" (wall {t_all:.2f}s, 2 cores)")  # fmt: skip


def cpu_by_role(api_pid: int, worker_pid: int) -> dict[str, float]:
    """user+system CPU seconds of the API processes, the worker, PostgreSQL and this client."""
    import psutil

    def tree(pid: int) -> float:
        try:
            p = psutil.Process(pid)
            procs = [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for q in procs:
            try:
                t = q.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    pg = 0.0
    for q in psutil.process_iter(["name"]):
        if q.info["name"] and q.info["name"].startswith("postgres"):
            try:
                t = q.cpu_times()
                pg += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    me = psutil.Process().cpu_times()
    return {"api": tree(api_pid), "worker": tree(worker_pid), "postgres": pg,
            "client": me.user + me.system}  # fmt: skip


if __name__ == "__main__":
    main()
