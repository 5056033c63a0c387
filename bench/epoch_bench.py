"""Epoch-close benchmark: one epoch of N nodes closed from rollups, against its irreducible
parts measured in the same run.

    .venv/bin/python -m bench.epoch_bench [--nodes 100000] [--per-provider 10] [--million]
        [--violating 0.2]

Set-up (not timed): a fresh database (DATABASE_URL or the embedded PostgreSQL) with N nodes of
all nine types, N / per-provider providers with enough bonded stake, and one epoch of rollups.
Timed: ``close_epoch`` (gather inputs, compute, ledger batch, receipts, merkle tree and proofs,
commit). Baselines: the integer reward arithmetic alone over the same inputs, a COPY of as many
transfer rows as the close posts, and the keccak tree with its proofs. Goals (issue 4): the
close within 3x the sum of the baselines and under 10 s for 100,000 nodes. --million also
prints time and peak memory of the pure computation (rewards + tree) for 1,000,000 nodes.

Then the slashing evaluation of the same epoch, timed beside the close (issue 10 point 13):
``--violating`` (default 0.2) of the nodes were down a third of the epoch, every k-th node, so
no region is more than that share down (not a correlated outage) and each is one penalty
(a first offence: a warning, decided, recorded and appealable like any other). Goals: the
evaluation no slower than the close, and both together under 15 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import resource
import sys
import time

import psycopg

from bench.common import fresh_db, server_url
from ledger.accounting.domain.hashchain import GENESIS_HASH, canonical_row, chain_hash
from ledger.accounting.domain.transfers import TransferRequest
from ledger.accounting.repository import TRANSFER_COLUMNS
from ledger.accounting.service import PROVIDER_ACCOUNT_KINDS, create_transfers, open_system_accounts
from ledger.epochs import service as epochs
from ledger.kit.db import make_engine, transaction
from ledger.kit.embedded import libpq_url
from ledger.params.domain import DEFAULT_PARAMS as P
from ledger.params.domain.epochs import epoch_settles_at
from ledger.rewards.domain import NetworkConditions, NodeRewardInput, compute_epoch
from ledger.rewards.domain.merkle import build_tree
from ledger.slashing import service as slashing
from ledger.telemetry.domain import NodeEpochRollup
from ledger.telemetry.repository import mask_to_words

HW = {"individual": (1, "rtx4090", 64, 4, 1), "datacenter": (128, "h100", 2048, 500, 100),
      "edge": (16, "l40s", 512, 40, 40)}  # fmt: skip


def setup(url: str, n: int, per_provider: int, epoch: int, violating: float) -> None:
    rng = random.Random(7)
    start = epoch * P.epoch.epoch_length_s
    before = dt.datetime.fromtimestamp(start - 60, dt.UTC)
    types = P.providers.type_names
    n_prov = max(1, n // per_provider)
    providers = ["0x" + hashlib.sha256(f"p{i}".encode()).hexdigest()[:40] for i in range(n_prov)]
    expected = P.epoch.epoch_length_s // P.telemetry.heartbeat_interval_s
    with psycopg.connect(libpq_url(url)) as c:
        with c.cursor() as cur, cur.copy("COPY providers (id, payout_address) FROM STDIN") as cp:
            for p in providers:
                cp.write_row((p, p))
        with (
            c.cursor() as cur,
            cur.copy(
                "COPY node_versions (node_id, version, provider_id, provider_type, region, gpus, "
                "gpu_class, ram_gb, storage_tb, bandwidth_gbps, fingerprint, node_address, "
                "capacity_units_ppm, required_stake_base_units, status, params_version, "
                "created_at) FROM STDIN"
            ) as cp,
        ):
            for i in range(n):
                t = types[i % len(types)]
                gpus, cls, ram, tb, gbps = HW[P.providers.type(t).category]
                cap = gpus * P.capacity.gpu_class_weight_ppm(cls) + tb * 50_000 + gbps * 20_000
                cp.write_row((f"node-{i}", 1, providers[i % n_prov], t, "eu-west", gpus, cls, ram,
                              tb, gbps, f"{i:032x}", "0x" + "1" * 40, cap, 0, "active", 1,
                              before))  # fmt: skip
        with (
            c.cursor() as cur,
            cur.copy(
                "COPY node_epoch_rollups (epoch, node_id, received, up, "
                "jobs_ok, jobs_failed, gpu_util_ppm_sum, bandwidth_mbps_sum, rating_sum, "
                "rating_count, slots_received, slots_up) FROM STDIN"
            ) as cp,
        ):
            for i in range(n):
                # Down for a third of the epoch, a violation: every k-th node, so no region is
                # more than `violating` down (20% is not a correlated outage; more would be).
                if violating and i % round(1 / violating) == 0:
                    rec = up = expected * 2 // 3
                else:
                    rec = rng.randint(expected * 99 // 100, expected)
                    up = rec
                rated = rng.randint(0, 3)
                # Slot masks: the first `rec` slots received, the first `up` of them up.
                cp.write_row((epoch, f"node-{i}", rec, up,
                              rng.randint(100, 500), rng.randint(0, 2), rec * 600_000, rec * 900,
                              rated * 4, rated, mask_to_words((1 << rec) - 1),
                              mask_to_words((1 << up) - 1)))  # fmt: skip
        with (
            c.cursor() as cur,
            cur.copy("COPY rollup_latency (epoch, node_id, latency_ms, count) FROM STDIN") as cp,
        ):
            for i in range(n):
                cp.write_row((epoch, f"node-{i}", rng.randint(5, 40), expected))
        c.commit()
    # Provider accounts and enough bonded stake, through the real services.
    eng = make_engine(url, app_role="swarm_ledger_app")
    with transaction(eng) as conn:
        system = open_system_accounts(conn)
    with psycopg.connect(libpq_url(url)) as c:
        with (
            c.cursor() as cur,
            cur.copy(
                "COPY accounts (owner, kind, asset, normal_balance, may_go_negative) FROM STDIN"
            ) as cp,
        ):
            for p in providers:
                for kind in PROVIDER_ACCOUNT_KINDS:
                    cp.write_row((p, kind, "SWARM", "credit", False))
        c.execute("INSERT INTO balances (account_id) SELECT id FROM accounts a WHERE NOT EXISTS "
                  "(SELECT 1 FROM balances b WHERE b.account_id = a.id)")  # fmt: skip
        bonded = dict(c.execute(
            "SELECT owner, id FROM accounts WHERE kind = 'stake_bonded'").fetchall())  # fmt: skip
        c.commit()
    with transaction(eng) as conn:
        create_transfers(
            conn,
            [TransferRequest(f"bond:{p}", system["onchain_custody"], bonded[p], 10**30, 200)
             for p in providers],
            now=before,
        )  # fmt: skip
    eng.dispose()


def copy_baseline(url: str, rows: int) -> float:
    """COPY as many transfer rows as the close posts (hashes precomputed, not timed)."""
    lines, prev = [], GENESIS_HASH
    for i in range(1, rows + 1):
        h = chain_hash(prev, canonical_row(i, f"r{i}", "posted", 1, 2, "SWARM", 10**21 + i, 100,
                                           1, None, None, "{}", 0))  # fmt: skip
        lines.append(f"{10**9 + i}\tr{i}\tposted\t1\t2\tSWARM\t{10**21 + i}\t100\t1\t\\N\t"
                     f"\\N\t{{}}\t2026-01-01T00:00:00+00:00\t\\\\x{prev.hex()}\t"
                     f"\\\\x{h.hex()}\n")  # fmt: skip
        prev = h
    data = "".join(lines)
    with psycopg.connect(libpq_url(url)) as c:
        t0 = time.perf_counter()
        with c.cursor() as cur, cur.copy(f"COPY transfers ({TRANSFER_COLUMNS}) FROM STDIN") as cp:
            cp.write(data)
        c.commit()
        el = time.perf_counter() - t0
        c.rollback()
    return el


def synthetic_inputs(n: int, per_provider: int) -> list[NodeRewardInput]:
    rng = random.Random(3)
    types = P.providers.type_names
    n_prov = max(1, n // per_provider)
    out = []
    for i in range(n):
        rec = rng.randint(30, 60)
        r = NodeEpochRollup(f"node-{i}", 1, 60, rec, rec - rng.randint(0, 3), 0,
                            rng.randint(5, 200), rng.randint(0, 500), rng.randint(0, 10),
                            rec * 600_000, rec * 900, 4, 1)  # fmt: skip
        out.append(NodeRewardInput(
            f"node-{i}", "0x" + hashlib.sha256(f"p{i % n_prov}".encode()).hexdigest()[:40],
            types[i % len(types)], "eu-west", 1_000_000, "flexible", 1_000_000, False, False,
            False, r))  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--per-provider", type=int, default=10)
    ap.add_argument("--million", action="store_true")
    ap.add_argument("--violating", type=float, default=0.2, help="share of nodes down a third")
    args = ap.parse_args()
    srv = server_url()
    url = fresh_db(srv)
    epoch = 493_000  # an hourly epoch in 2026
    setup(url, args.nodes, args.per_provider, epoch, args.violating)
    eng = make_engine(url, app_role="swarm_ledger_app")
    now = dt.datetime.fromtimestamp(epoch_settles_at(epoch, P), dt.UTC)

    # Baseline inputs (read once, not timed): what the close will compute from.
    with eng.connect() as conn:
        inputs, network = epochs.gather_inputs(conn, epoch, P)

    t0 = time.perf_counter()
    with transaction(eng) as conn:
        res = epochs.close_epoch(conn, epoch, now=now, params=P)
    close_s = time.perf_counter() - t0
    assert res.closed_now and res.rewards is not None
    paid = sum(1 for a in res.rewards.provider_totals.values() if a)

    t0 = time.perf_counter()
    result = compute_epoch(epoch, inputs, network, None, P)
    arith_s = time.perf_counter() - t0
    assert result.pool_base_units == res.epoch.pool_base_units
    copy_s = copy_baseline(url, paid)
    leaves = sorted((p, a) for p, a in result.provider_totals.items() if a)
    t0 = time.perf_counter()
    tree = build_tree(leaves)
    for i in range(len(leaves)):
        tree.proof(i)
    tree_s = time.perf_counter() - t0
    base = arith_s + copy_s + tree_s
    print(f"epoch close, {args.nodes:,} nodes / {len(leaves):,} providers paid: {close_s:.2f}s")
    print(f"baselines: reward arithmetic {arith_s:.2f}s + COPY of {paid:,} transfers "
          f"{copy_s:.2f}s + keccak tree and proofs {tree_s:.2f}s = {base:.2f}s")  # fmt: skip
    print(f"ratio close / baselines {close_s / base:.2f}x (goals <= 3x and < 10 s)")

    # The slashing evaluation of the same epoch, as the worker runs it (issue 10 point 13).
    t0 = time.perf_counter()
    with transaction(eng) as conn:
        decided = slashing.evaluate_epoch(conn, epoch, now=now, params=P)
    eval_s = time.perf_counter() - t0
    print(f"slashing evaluation: {len(decided):,} penalties decided in {eval_s:.2f}s; "
          f"evaluation / close {eval_s / close_s:.2f}x, close + evaluation "
          f"{close_s + eval_s:.2f}s (goals <= 1x and < 15 s)")  # fmt: skip
    eng.dispose()
    if args.million:
        n = 1_000_000
        ins = synthetic_inputs(n, args.per_provider)
        t0 = time.perf_counter()
        r = compute_epoch(1, ins, NetworkConditions(600_000, n), None, P)
        lv = sorted((p, a) for p, a in r.provider_totals.items() if a)
        tr = build_tree(lv)
        for i in range(len(lv)):
            tr.proof(i)
        el = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"1,000,000 nodes: rewards + tree + proofs {el:.1f}s, peak RSS {peak_mb:,.0f} MB "
              "(pure computation; database part not measured at this size)")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
