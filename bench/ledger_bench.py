"""Ledger benchmark: the service against raw SQL doing the same writes, in the same run.

    .venv/bin/python -m bench.ledger_bench [--singles 3000] [--batch 100000]

Uses DATABASE_URL when set, else the embedded PostgreSQL. Each measurement runs in a fresh,
migrated database. Prints rates and the ratio service / raw (the machine is noisy: compare
ratios, not absolute times). Goals (issue 2): singles >= 60% of raw; a linked batch of 100,000
transfers >= 100,000 transfers/s and >= 30% of a raw COPY of the same rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import psycopg

from bench.common import drop_db, fresh_db, server_url
from ledger.accounting.domain.hashchain import GENESIS_HASH, canonical_row, chain_hash
from ledger.accounting.domain.transfers import TransferRequest
from ledger.accounting.repository import TRANSFER_COLUMNS
from ledger.accounting.service import create_transfer, create_transfers
from ledger.kit.db import make_engine, transaction
from ledger.kit.embedded import (
    libpq_url,
)

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


def open_accounts(url: str, n: int) -> tuple[int, list[int]]:
    """Emission (may go negative) plus n provider accounts, created in bulk."""
    with psycopg.connect(libpq_url(url)) as c:
        c.execute(
            "INSERT INTO accounts (owner, kind, asset, normal_balance, may_go_negative) "
            "VALUES ('system', 'emission', 'SWARM', 'credit', true)"
        )
        c.execute(
            "INSERT INTO accounts (owner, kind, asset, normal_balance, may_go_negative) "
            "SELECT 'p' || g, 'rewards_accrued', 'SWARM', 'credit', false "
            "FROM generate_series(1, %s) g",
            (n,),
        )
        c.execute("INSERT INTO balances (account_id) SELECT id FROM accounts")
        ids = [r[0] for r in c.execute("SELECT id FROM accounts ORDER BY id").fetchall()]
    return ids[0], ids[1:]


def bench_singles(server: str, n: int, rounds: int = 5) -> tuple[float, float]:
    """Alternate blocks of service and raw transfers, so drift hits both alike; medians."""
    svc_url, raw_url = fresh_db(server), fresh_db(server)
    emission, provs = open_accounts(svc_url, 100)
    raw_emission, raw_provs = open_accounts(raw_url, 100)
    eng = make_engine(svc_url, app_role="swarm_ledger_app", pool_size=1)
    raw_conn = psycopg.connect(libpq_url(raw_url))
    raw_conn.execute("SET ROLE swarm_ledger_app")
    raw_conn.commit()
    prev = GENESIS_HASH
    counter = {"svc": 0, "raw": 0}

    def service_block(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            i = counter["svc"] = counter["svc"] + 1
            with transaction(eng) as conn:
                create_transfer(
                    conn,
                    TransferRequest(f"s{i}", emission, provs[i % 100], 10**18 + i, 1, epoch=1),
                    now=NOW,
                )
        return k / (time.perf_counter() - t0)

    def raw_block(k: int) -> float:
        # The same row and balance writes, hand-written: no lock, no checks, no head.
        nonlocal prev
        c = raw_conn
        t0 = time.perf_counter()
        for _ in range(k):
            i = counter["raw"] = counter["raw"] + 1
            tid, amount, credit = f"s{i}", 10**18 + i, raw_provs[i % 100]
            h = chain_hash(prev, canonical_row(i, tid, "posted", raw_emission, credit, "SWARM",
                                               amount, 1, 1, None, None, "{}", 0))  # fmt: skip
            c.execute(
                f"INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES "
                "(%s, %s, 'posted', %s, %s, 'SWARM', %s, 1, 1, NULL, NULL, '{}', %s, %s, %s)",
                (i, tid, raw_emission, credit, amount, NOW, prev, h),
            )
            c.execute(
                "UPDATE balances SET debits_posted = debits_posted + %s WHERE account_id = %s",
                (amount, raw_emission),
            )
            c.execute(
                "UPDATE balances SET credits_posted = credits_posted + %s WHERE account_id = %s",
                (amount, credit),
            )
            c.commit()
            prev = h
        return k / (time.perf_counter() - t0)

    service_block(50)  # warm up both (connections, prepared statements)
    raw_block(50)
    block = max(1, n // rounds)
    svc_rates, raw_rates = [], []
    for _ in range(rounds):
        svc_rates.append(service_block(block))
        raw_rates.append(raw_block(block))
    raw_conn.close()
    eng.dispose()
    drop_db(server, svc_url)
    drop_db(server, raw_url)
    return statistics.median(svc_rates), statistics.median(raw_rates)


def bench_batch(server: str, n: int) -> tuple[float, float]:
    url = fresh_db(server)
    emission, provs = open_accounts(url, n)
    reqs = [TransferRequest(f"e1:reward:{p}", emission, p, 10**18 + p, 100, epoch=1) for p in provs]
    eng = make_engine(url, app_role="swarm_ledger_app", pool_size=1)
    t0 = time.perf_counter()
    with transaction(eng) as conn:
        res = create_transfers(conn, reqs, now=NOW)
    service_s = time.perf_counter() - t0
    assert len(res.created) == n
    eng.dispose()
    drop_db(server, url)

    # Raw COPY of the same rows (hashes precomputed outside the timing) into the same table.
    url = fresh_db(server)
    emission, provs = open_accounts(url, n)
    rows = []
    prev = GENESIS_HASH
    for i, p in enumerate(provs, start=1):
        tid, amount = f"e1:reward:{p}", 10**18 + p
        h = chain_hash(prev, canonical_row(i, tid, "posted", emission, p, "SWARM", amount, 100,
                                           1, None, None, "{}", 0))  # fmt: skip
        rows.append((i, tid, "posted", emission, p, "SWARM", amount, 100, 1, None, None, "{}",
                     NOW, prev, h))  # fmt: skip
        prev = h
    with psycopg.connect(libpq_url(url)) as c:
        t0 = time.perf_counter()
        with c.cursor() as cur, cur.copy(f"COPY transfers ({TRANSFER_COLUMNS}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        c.commit()
        raw_s = time.perf_counter() - t0
    drop_db(server, url)
    return n / service_s, n / raw_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--singles", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=100_000)
    args = ap.parse_args()
    server = server_url()
    svc, raw = bench_singles(server, args.singles)
    print(f"single transfers, 1 client: service {svc:,.0f}/s  raw SQL {raw:,.0f}/s  "
          f"ratio {svc / raw:.0%} (goal >= 60%)")  # fmt: skip
    svc, raw = bench_batch(server, args.batch)
    print(f"linked batch of {args.batch:,}: service {svc:,.0f} transfers/s  raw COPY {raw:,.0f}"
          f" rows/s  ratio {svc / raw:.0%} (goals >= 100,000/s and >= 30%)")  # fmt: skip


if __name__ == "__main__":
    main()
