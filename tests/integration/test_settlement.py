"""Settlement on a real anvil (issue 11 points 3-4): the close's root and an executed slash
reach the chain through the outbox, once, and are recorded final only when final; an RPC that
fails right after a send, a dropped or stuck transaction, a fee spike above the cap, a reorg,
the same task twice and two workers for one key never settle anything twice."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from web3 import Web3

from ledger.chain.anvil import Anvil
from ledger.chain.contracts import contract_at
from ledger.epochs import service as epochs
from ledger.kit import outbox
from ledger.kit.db import transaction
from ledger.params.domain.epochs import epoch_settles_at
from ledger.rewards.repository import RewardsRepository
from ledger.settlement import service as settlement
from ledger.settlement.domain import FeePolicy, ItemStatus
from ledger.settlement.repository import SettlementRepository
from tests.integration.chain_net import (
    GWEI,
    QUICK,
    Net,
    deploy_net,
    now,
    rpc,
    run,
)
from tests.integration.epoch_helpers import at, bond, future_epoch, send_epoch
from tests.integration.fleet import make_fleet


@pytest.fixture
def net(node: Anvil) -> Net:
    return deploy_net(node)


def root_item(engine: Engine, epoch: int, root: bytes) -> None:
    """A root in the outbox as the close writes it (for tests that are about the chain side)."""
    with transaction(engine) as conn:
        outbox.put(conn, "root", str(epoch), epochs.root_payload(
            epoch, root, "ab" * 32, "cd" * 32, 1), now())  # fmt: skip


def on_chain_root(net: Net, epoch: int) -> bytes:
    d = contract_at(net.w3, "RewardsDistributor", net.deployment.distributor)
    return bytes(d.functions.epochRoot(epoch).call()[0])


def status(engine: Engine, topic: str, key: str) -> ItemStatus:
    with engine.connect() as conn:
        s = settlement.item_settlement(conn, topic, key)
    assert s is not None
    return ItemStatus(s["status"])


def sent(engine: Engine, topic: str, key: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        s = settlement.item_settlement(conn, topic, key)
    assert s is not None
    return s["transactions"]


# --- the close's root, end to end ------------------------------------------------------------


def test_a_closed_epochs_root_is_posted_once_and_final_only_when_final(
    engine: Engine, net: Net
) -> None:
    nodes = make_fleet(engine, 2, params=QUICK)
    e0 = future_epoch(QUICK)
    bond(engine, nodes, at(e0 * 60 - 1))
    root_epoch = None
    for e in range(e0, e0 + 5):
        send_epoch(engine, nodes, e, QUICK)
        with transaction(engine) as conn:
            row = epochs.close_epoch(conn, e, now=at(epoch_settles_at(e, QUICK)), params=QUICK)
            item = outbox.find(conn, "root", str(e))
        # The close writes the outbox item in its own transaction, once there are leaves.
        assert (item is not None) == (row.epoch.leaf_count > 0)
        if item is not None and root_epoch is None:
            root_epoch = e
    assert root_epoch is not None
    with engine.connect() as conn:
        stored = RewardsRepository(conn).get_epoch(root_epoch)
    assert stored is not None

    chain = net.chain()
    first = settlement.submit_due(run(engine), chain, now=now())
    assert settlement.submit_due(run(engine), chain, now=now()) == []  # the same task again
    assert len(first) >= 1
    assert status(engine, "root", str(root_epoch)) == ItemStatus.SUBMITTED
    settlement.track(run(engine), chain, now=now())
    assert status(engine, "root", str(root_epoch)) == ItemStatus.INCLUDED  # not final yet
    net.finalize()
    settlement.track(run(engine), chain, now=now())
    assert status(engine, "root", str(root_epoch)) == ItemStatus.FINAL
    assert on_chain_root(net, root_epoch) == stored.merkle_root
    (tx,) = sent(engine, "root", str(root_epoch))
    assert [ev["status"] for ev in tx["events"]] == ["submitted", "included", "final"]


# --- faults -------------------------------------------------------------------------------


class _FlakyRpc(http.server.ThreadingHTTPServer):
    """A JSON-RPC relay to anvil that forwards every call and, while ``fail_sends`` is set,
    answers a send with an error after anvil has accepted it: the outcome is unknown."""

    fail_sends = True

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        super().__init__(("127.0.0.1", 0), _Relay)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Relay(http.server.BaseHTTPRequestHandler):
    server: _FlakyRpc

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = httpx.post(self.server.upstream, content=body,
                            headers={"Content-Type": "application/json"})  # fmt: skip
        if self.server.fail_sends and json.loads(body).get("method") == "eth_sendRawTransaction":
            self.send_response(502)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args: Any) -> None:
        pass


def test_rpc_down_right_after_a_send_is_resolved_from_the_chain(
    engine: Engine, net: Net, node: Anvil
) -> None:
    relay = _FlakyRpc(node.url)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    try:
        flaky = net.chain(Web3(Web3.HTTPProvider(relay.url, request_kwargs={"timeout": 10})))
        root_item(engine, 7, b"\x07" * 32)
        assert len(settlement.submit_due(run(engine), flaky, now=now())) == 1
        (tx,) = sent(engine, "root", "7")
        assert tx["events"][-1]["status"] == "send_failed"
        assert on_chain_root(net, 7) == b"\x07" * 32  # it did reach the chain
        relay.fail_sends = False
        settlement.track(run(engine), flaky, now=now())
        net.finalize()
        settlement.track(run(engine), flaky, now=now())
    finally:
        relay.shutdown()
    assert status(engine, "root", "7") == ItemStatus.FINAL
    assert [t["tx_hash"] for t in sent(engine, "root", "7")] == [tx["tx_hash"]]  # no resend
    assert net.w3.eth.get_transaction_count(net.root_poster.address) == 1


def test_a_dropped_transaction_is_sent_again_byte_for_byte(engine: Engine, net: Net) -> None:
    rpc(net.w3, "evm_setAutomine", False)
    chain = net.chain()
    root_item(engine, 8, b"\x08" * 32)
    settlement.submit_due(run(engine), chain, now=now())
    (tx,) = sent(engine, "root", "8")
    rpc(net.w3, "anvil_dropTransaction", tx["tx_hash"])
    settlement.track(run(engine), chain, now=now())  # not known to the node: sent again
    net.mine()
    settlement.track(run(engine), chain, now=now())
    assert status(engine, "root", "8") == ItemStatus.INCLUDED
    (again,) = sent(engine, "root", "8")
    assert again["tx_hash"] == tx["tx_hash"]
    assert [ev["status"] for ev in again["events"]] == ["submitted", "submitted", "included"]


def test_a_stuck_transaction_is_replaced_under_its_nonce(engine: Engine, net: Net) -> None:
    rpc(net.w3, "evm_setAutomine", False)
    chain = net.chain(stuck_after_s=0)
    root_item(engine, 9, b"\x09" * 32)
    settlement.submit_due(run(engine), chain, now=now())
    settlement.track(run(engine), chain, now=now())  # stuck at once: replaced, +12.5% fees
    first, second = sent(engine, "root", "9")
    assert first["nonce"] == second["nonce"] and second["replaces"] is not None
    assert int(second["max_fee_per_gas"]) >= int(first["max_fee_per_gas"]) * 1125 // 1000
    net.mine()
    settlement.track(run(engine), chain, now=now())
    net.finalize()
    settlement.track(run(engine), chain, now=now())
    assert status(engine, "root", "9") == ItemStatus.FINAL
    first, second = sent(engine, "root", "9")
    assert (first["status"], second["status"]) == ("replaced", "final")
    assert on_chain_root(net, 9) == b"\x09" * 32
    assert net.w3.eth.get_transaction_count(net.root_poster.address) == 1


def test_a_base_fee_above_the_cap_waits_unsent(engine: Engine, net: Net) -> None:
    rpc(net.w3, "anvil_setNextBlockBaseFeePerGas", hex(500 * GWEI))
    net.mine()
    chain = net.chain(fees=FeePolicy(100 * GWEI, GWEI))
    root_item(engine, 10, b"\x0a" * 32)
    assert settlement.submit_due(run(engine), chain, now=now()) == []
    assert status(engine, "root", "10") == ItemStatus.QUEUED
    rpc(net.w3, "anvil_setNextBlockBaseFeePerGas", hex(GWEI))
    net.mine()
    assert len(settlement.submit_due(run(engine), chain, now=now())) == 1
    (tx,) = sent(engine, "root", "10")
    assert int(tx["max_fee_per_gas"]) <= 100 * GWEI


def test_a_reorg_that_drops_the_included_transaction_sends_it_again(
    engine: Engine, net: Net
) -> None:
    chain = net.chain()
    root_item(engine, 11, b"\x0b" * 32)
    snap = rpc(net.w3, "evm_snapshot")
    settlement.submit_due(run(engine), chain, now=now())
    settlement.track(run(engine), chain, now=now())
    assert status(engine, "root", "11") == ItemStatus.INCLUDED
    assert rpc(net.w3, "evm_revert", snap) is True  # the block with it is gone
    assert on_chain_root(net, 11) == bytes(32)
    settlement.track(run(engine), chain, now=now())  # reorged: the same bytes sent again
    settlement.track(run(engine), chain, now=now())
    assert status(engine, "root", "11") == ItemStatus.INCLUDED
    net.finalize()
    settlement.track(run(engine), chain, now=now())
    assert status(engine, "root", "11") == ItemStatus.FINAL
    assert on_chain_root(net, 11) == b"\x0b" * 32
    (tx,) = sent(engine, "root", "11")
    assert [ev["status"] for ev in tx["events"]][:4] == [
        "submitted", "included", "reorged", "submitted",
    ]  # fmt: skip


def test_two_workers_for_one_key_never_share_a_nonce(engine: Engine, net: Net) -> None:
    chain = net.chain()
    for e in range(20, 26):
        root_item(engine, e, bytes([e]) * 32)
    results: list[list[int]] = []

    def worker() -> None:
        results.append(settlement.submit_due(run(engine), chain, now=now()))

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(len(r) for r in results) in ([0, 6], [1, 5], [2, 4], [3, 3])
    with engine.connect() as conn:
        nonces = [t.nonce for t in SettlementRepository(conn).open_txs()]
    assert sorted(nonces) == list(range(6))
    settlement.track(run(engine), chain, now=now())
    assert [on_chain_root(net, e) for e in range(20, 26)] == [
        bytes([e]) * 32 for e in range(20, 26)
    ]


def test_a_reverted_transaction_fails_the_item_and_nothing_resends_it(
    engine: Engine, net: Net
) -> None:
    chain = net.chain()
    root_item(engine, 30, b"\x1e" * 32)
    settlement.submit_due(run(engine), chain, now=now())
    root_item(engine, 29, b"\x1d" * 32)  # an older epoch after a newer one: the chain refuses
    settlement.submit_due(run(engine), chain, now=now())
    settlement.track(run(engine), chain, now=now())
    assert status(engine, "root", "29") == ItemStatus.FAILED
    assert settlement.submit_due(run(engine), chain, now=now()) == []
    assert status(engine, "root", "30") == ItemStatus.INCLUDED


def test_an_executed_slash_goes_on_chain_in_a_batch(engine: Engine, net: Net) -> None:
    provider = net.w3.eth.accounts[5]
    token = contract_at(net.w3, "SwarmToken", net.deployment.token)
    vault = contract_at(net.w3, "StakingVault", net.deployment.vault)
    for fn, sender in (
        (token.functions.mint(provider, 10_000), net.deployer),
        (token.functions.approve(net.deployment.vault, 10_000), provider),
        (vault.functions.stake(10_000, 0), provider),
    ):
        net.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "gas": 300_000}))
    with transaction(engine) as conn:
        for i, amount in enumerate((1_000, 2_000)):
            outbox.put(conn, "slash", f"p{i}", {
                "slash_id": f"{i + 1:064x}", "provider": provider.lower(),
                "amount_base_units": str(amount), "infraction_at_s": 0}, now())  # fmt: skip
    chain = net.chain()
    assert len(settlement.submit_due(run(engine), chain, now=now())) == 1  # one batch for both
    net.finalize()
    settlement.track(run(engine), chain, now=now())
    assert status(engine, "slash", "p0") == status(engine, "slash", "p1") == ItemStatus.FINAL
    assert vault.functions.bondedOf(provider).call() == 7_000
    assert vault.functions.isSlashApplied((1).to_bytes(32, "big")).call()


def test_a_drift_found_by_the_reconciler_halts_new_submissions(engine: Engine, net: Net) -> None:
    from ledger.settlement import reconcile

    chain = net.chain()
    with transaction(engine) as conn:
        SettlementRepository(conn).insert_reconciliation(
            now=now(), ok=False, head_block=1, indexed_block=1, notes=[],
            drifts=[{"source": "test", "expected": "1", "got": "0"}],
        )  # fmt: skip
    root_item(engine, 40, b"\x28" * 32)
    assert settlement.submit_due(run(engine), chain, now=now()) == []
    assert status(engine, "root", "40") == ItemStatus.QUEUED
    with transaction(engine) as conn:  # the next reconciliation finds the books in agreement
        assert reconcile.reconcile(conn, chain, now=now()).ok
    assert len(settlement.submit_due(run(engine), chain, now=now())) == 1
