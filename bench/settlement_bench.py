"""Settlement gas benchmark on a fresh anvil, against the token's plain ``transfer`` measured in
the same run.

    .venv/bin/python -m bench.settlement_bench

Set-up (not measured): anvil with 110 dev accounts, the four contracts deployed and wired by
``ledger.chain.deploy`` (admin roles to the timelock), 100 providers with bonded stake, merkle
trees of 100, 10,000 and 100,000 leaves built by the ledger's own ``build_tree``. Measured (gas
used from receipts): a root post per tree size (goal: constant in the number of leaves); a claim
against the 100,000-leaf root including the token transfer (goal: <= 80,000, Uniswap's
MerkleDistributor); one batch of 100 slashes, per slash = batch gas / 100 (goal: <= 30,000).
Baselines: ``transfer`` to an address already holding SWARM and to a fresh one. Then the wall
time from a root entering the outbox to final (``close_to_final``; uses DATABASE_URL or the
embedded PostgreSQL), beside the chain's own 64-block finality measured in the same run.
"""

from __future__ import annotations

import secrets
import time

from web3 import Web3

from ledger.chain.anvil import Anvil
from ledger.chain.contracts import (
    SlashItem,
    claim_tx,
    contract_at,
    post_root_tx,
    send,
    slash_batch_tx,
    transact,
    wait,
)
from ledger.chain.deploy import DeployConfig, deploy
from ledger.rewards.domain.merkle import build_tree

E18 = 10**18
N_SLASH = 100


def gas_of(receipt: object) -> int:
    assert receipt["status"] == 1, receipt  # type: ignore[index]
    return int(receipt["gasUsed"])  # type: ignore[index]


def main() -> None:
    with Anvil(extra_args=("--accounts", "110")) as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        acc = w3.eth.accounts
        me, poster, slasher, guardian, insurance, treasury = acc[:6]
        d = deploy(w3, me, DeployConfig(root_poster=poster, slasher=slasher, guardian=guardian,
                                        insurance=insurance, treasury=treasury,
                                        activation_delay_s=3_600))  # fmt: skip
        token = contract_at(w3, "SwarmToken", d.token)
        vault = contract_at(w3, "StakingVault", d.vault)

        def tx(fn: object, sender: str, gas: int = 300_000) -> int:
            return gas_of(transact(w3, fn, sender, gas=gas))  # type: ignore[arg-type]

        # Baselines: plain transfers.
        tx(token.functions.mint(me, 10**9 * E18), me)
        tx(token.functions.transfer(acc[6], E18), me)
        transfer_warm = tx(token.functions.transfer(acc[6], E18), me)
        fresh = Web3.to_checksum_address("0x" + secrets.token_hex(20))
        transfer_fresh = tx(token.functions.transfer(fresh, E18), me)

        # Root posts at three sizes; the claimers are dev accounts inside the 100k tree.
        t0 = time.perf_counter()
        claimers = acc[8:10]  # hold no SWARM yet
        trees = {}
        for n in (100, 10_000, 100_000):
            leaves = [(Web3.to_checksum_address("0x" + secrets.token_hex(20)), 1 + i)
                      for i in range(n - len(claimers))]  # fmt: skip
            trees[n] = build_tree([*leaves, *((c, 1_000 * E18) for c in claimers)])
        # The next epoch: same 100k accounts, the claimers' cumulative amounts doubled.
        next_tree = build_tree([*leaves, *((c, 2_000 * E18) for c in claimers)])
        build_s = time.perf_counter() - t0

        def post(epoch: int, tree: object) -> int:
            txp = post_root_tx(w3, d.distributor, epoch=epoch, root=tree.root,  # type: ignore[attr-defined]
                               inputs_digest=secrets.token_bytes(32),
                               params_hash=secrets.token_bytes(32), calculator_version=1,
                               sender=poster)  # fmt: skip
            return gas_of(wait(w3, send(w3, txp, poster)))

        def activate() -> None:
            w3.provider.make_request("evm_increaseTime", [3_601])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

        def claim(epoch: int, tree: object, who: str, amount: int) -> int:
            txc = claim_tx(
                w3,
                d.distributor,
                epoch=epoch,
                account=who,
                cumulative_amount=amount,
                proof=tree.proof(who),
                sender=who,
            )  # type: ignore[attr-defined]
            return gas_of(wait(w3, send(w3, txc, who)))

        post_gas = {n: post(epoch, tree) for epoch, (n, tree) in enumerate(trees.items(), start=1)}

        # Claims against the 100k root (epoch 3) after the activation delay, then the next
        # epoch's claim of the difference (the steady state of cumulative roots).
        tx(token.functions.transfer(d.distributor, 10_000 * E18), me)
        activate()
        big = trees[100_000]
        fresh_claimer, holder = claimers
        tx(token.functions.transfer(holder, E18), me)  # a payout that already holds SWARM
        claim_gas = {
            "first claim, payout holds no SWARM": claim(3, big, fresh_claimer, 1_000 * E18),
            "first claim, payout holds SWARM": claim(3, big, holder, 1_000 * E18),
        }
        post(4, next_tree)
        activate()
        claim_gas["next epoch's claim (cumulative minus claimed)"] = claim(
            4, next_tree, holder, 2_000 * E18
        )
        depth = len(big.proof(fresh_claimer))

        # 100 providers stake; one batch of 100 slashes with sequential ids, one with random ids.
        providers = acc[10 : 10 + N_SLASH]
        for p in providers:
            tx(token.functions.transfer(p, 1_000 * E18), me)
            tx(token.functions.approve(d.vault, 1_000 * E18), p)
            tx(vault.functions.stake(1_000 * E18, 0), p)
        now = int(w3.eth.get_block("latest")["timestamp"])  # the infraction
        batches = {
            "sequential ids": [SlashItem((1 + i).to_bytes(32, "big"), p, E18, now)
                               for i, p in enumerate(providers)],
            "random ids": [SlashItem(secrets.token_bytes(32), p, E18, now) for p in providers],
        }  # fmt: skip
        slash_gas = {}
        for label, items in batches.items():
            # A later second than the stakes and the previous batch: every slash pushes a new
            # checkpoint (within one second anvil would overwrite the last one, far cheaper).
            w3.provider.make_request("evm_increaseTime", [60])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            txs = slash_batch_tx(w3, d.vault, items, sender=slasher)
            slash_gas[label] = gas_of(wait(w3, send(w3, txs, slasher)))

    ref = transfer_fresh
    print(f"token transfer: {transfer_warm:,} gas to a holder, {transfer_fresh:,} to a fresh "
          f"address (ratios below are against the fresh-address transfer, {ref:,})")  # fmt: skip
    print(f"(trees of 100 / 10k / 100k leaves built in {build_s:.1f}s by ledger build_tree)")
    for n, g in post_gas.items():
        print(f"root post, {n:>7,} leaves: {g:>7,} gas  ({g / ref:.2f}x transfer)")
    spread = max(post_gas.values()) - min(post_gas.values())
    print(f"root post spread across sizes: {spread:,} gas (goal: constant)")
    for label, g in claim_gas.items():
        verdict = "meets" if g <= 80_000 else "misses"
        print(f"claim, 100,000 leaves (proof depth {depth}), {label}: {g:,} gas incl. the "
              f"transfer ({g / ref:.2f}x transfer; {verdict} goal <= 80,000)")  # fmt: skip
    for label, g in slash_gas.items():
        each = g / N_SLASH
        verdict = "meets" if each <= 30_000 else "misses"
        print(f"slash batch of {N_SLASH}, {label}: {g:,} gas, {each:,.0f} per slash "
              f"({each / ref:.2f}x transfer; {verdict} goal <= 30,000)")  # fmt: skip
    close_to_final()


def close_to_final() -> None:
    """Wall time from an epoch root entering the outbox (what the close's transaction writes)
    to its transaction recorded final, through the real jobs, on an anvil mining a block a
    second (finality: anvil's finalized tag, 64 blocks behind its head), beside the chain's own
    part measured in the same run (64 blocks at that rate)."""
    import datetime as dt

    from eth_account import Account

    from bench.common import drop_db, fresh_db, server_url
    from ledger.epochs.service import root_payload
    from ledger.kit import outbox
    from ledger.kit.db import make_engine, transaction
    from ledger.settlement import service as settlement
    from ledger.settlement.domain import FeePolicy, ItemStatus

    srv = server_url()
    url = fresh_db(srv)
    eng = make_engine(url, app_role="swarm_ledger_app")
    poster, slasher = Account.create(), Account.create()
    try:
        with Anvil() as node:
            w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
            me = w3.eth.accounts[0]
            for key in (poster, slasher):
                w3.provider.make_request("anvil_setBalance", [key.address, hex(10**21)])  # type: ignore[arg-type]
            d = deploy(w3, me, DeployConfig(root_poster=poster.address, slasher=slasher.address,
                                            guardian=me, insurance=me, treasury=me))  # fmt: skip
            w3.provider.make_request("evm_setIntervalMining", [1])  # type: ignore[arg-type]
            chain = settlement.Chain(w3=w3, distributor=d.distributor, vault=d.vault,
                                     root_poster=poster, slasher=slasher,
                                     fees=FeePolicy(100 * 10**9, 10**9))  # fmt: skip
            run = lambda: transaction(eng)  # noqa: E731
            t0 = time.perf_counter()
            b0 = w3.eth.block_number
            with transaction(eng) as conn:
                outbox.put(conn, "root", "1", root_payload(1, secrets.token_bytes(32),
                           "ab" * 32, "cd" * 32, 1), dt.datetime.now(dt.UTC))  # fmt: skip
            status = None
            while status != ItemStatus.FINAL and time.perf_counter() - t0 < 300:
                now = dt.datetime.now(dt.UTC)
                settlement.submit_due(run, chain, now=now)
                settlement.track(run, chain, now=now)
                with eng.connect() as conn:
                    item = settlement.item_settlement(conn, "root", "1")
                status = item["status"] if item else None
                if status != ItemStatus.FINAL:
                    time.sleep(1.0)  # beat's 5 s in service; 1 s here, to see the chain's part
            wall = time.perf_counter() - t0
            blocks = w3.eth.block_number - b0
    finally:
        eng.dispose()
        drop_db(srv, url)
    chain_part = 64 * wall / max(blocks, 1)
    print(f"outbox -> final root on anvil (1 block/s, final 64 blocks deep): {wall:.1f}s over "
          f"{blocks} blocks; the chain's 64 blocks ~{chain_part:.1f}s of it; the jobs' own part "
          f"{wall - chain_part:.1f}s (ratio wall / chain {wall / chain_part:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
