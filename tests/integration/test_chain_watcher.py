"""The chain watcher and the reconciler on a real anvil and PostgreSQL (issue 11 points 5-6):
a provider's stake, unstake and withdrawal made with its own key are mirrored into the ledger
once final and not before; a claim made with the ledger's proof moves claimable to claimed
once; an out-of-band token transfer to the vault and a root that is not the ledger's are
drifts that halt settlement; the operator's stake endpoint is refused in chain mode."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from web3 import Web3
from web3.logs import DISCARD

from ledger.accounting.domain import codes
from ledger.accounting.domain.accounts import AccountKind
from ledger.accounting.domain.transfers import TransferKind, TransferRequest
from ledger.accounting.service import create_transfers, open_system_accounts
from ledger.api.app import create_app
from ledger.chain.anvil import Anvil
from ledger.epochs import service as epochs
from ledger.kit import outbox
from ledger.kit.config import Settings
from ledger.kit.db import driver, transaction
from ledger.kit.embedded import Resolved
from ledger.params.domain.epochs import epoch_settles_at
from ledger.registry import service as registry
from ledger.rewards import service as rewards_service
from ledger.runtime import Runtime
from ledger.settlement import reconcile as rec
from ledger.settlement import router as settlement_router
from ledger.settlement import service as settlement
from ledger.settlement import watcher
from ledger.settlement.domain import ItemStatus
from ledger.settlement.repository import SettlementRepository
from ledger.staking import service as staking
from tests.integration.chain_net import (
    QUICK,
    Net,
    deploy_net,
    now,
    rpc,
    run,
)
from tests.integration.epoch_helpers import at, bond, future_epoch, send_epoch
from tests.integration.fleet import make_fleet

UNBONDING_S = 100


@pytest.fixture
def net(node: Anvil) -> Net:
    return deploy_net(node, unbonding_period_s=UNBONDING_S)


def index(engine: Engine, net: Net) -> int:
    return watcher.index_final(run(engine), net.chain(), now=now(), params=QUICK)


def reconcile(engine: Engine, net: Net) -> rec.Report:
    with transaction(engine) as conn:
        return rec.reconcile(conn, net.chain())


def halted(engine: Engine) -> bool:
    with engine.connect() as conn:
        return rec.halted(conn)


def balance(engine: Engine, owner: str, kind: str) -> int:
    with engine.connect() as conn:
        row = driver(conn).execute(
            "SELECT b.credits_posted - b.debits_posted FROM accounts a JOIN balances b ON "
            "b.account_id = a.id WHERE a.owner = %s AND a.kind = %s", (owner, kind),
        ).fetchone()  # fmt: skip
    return 0 if row is None else int(row[0])


def transfers_of_code(engine: Engine, code: int) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = (
            driver(conn)
            .execute("SELECT id, amount FROM transfers WHERE code = %s ORDER BY seq", (code,))
            .fetchall()
        )
    return [(r[0], int(r[1])) for r in rows]


def events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return SettlementRepository(conn).chain_events()


def register(engine: Engine, key: LocalAccount) -> str:
    pid = key.address.lower()
    with transaction(engine) as conn:
        open_system_accounts(conn)
        registry.register_provider(conn, owner_address=pid, payout_address=pid)
    return pid


# --- stake, unstake, withdraw ---------------------------------------------------------------


def test_stake_unstake_and_withdraw_are_mirrored_once_final_and_not_before(
    engine: Engine, net: Net
) -> None:
    key = net.key()
    pid = register(engine, key)
    vault = net.contract("StakingVault")
    receipt = net.fund_and_stake(key, 10_000)
    assert index(engine, net) == 0  # included, not final: nothing in the ledger yet
    assert balance(engine, pid, AccountKind.STAKE_BONDED) == 0
    net.finalize()
    assert index(engine, net) == 1
    assert balance(engine, pid, AccountKind.STAKE_BONDED) == 10_000
    (staked,) = vault.events.Staked().process_receipt(receipt, errors=DISCARD)
    log_index = staked["logIndex"]
    tx = "0x" + bytes(receipt["transactionHash"]).hex()
    assert transfers_of_code(engine, codes.STAKE_BOND) == [
        (f"bond:{pid}:chain:{tx}:{log_index}", 10_000)
    ]
    assert index(engine, net) == 0  # nothing new: nothing booked twice

    net.send(vault.functions.requestUnstake(4_000), key)
    (entry,) = vault.functions.unbondingEntryIds(key.address).call()
    assert index(engine, net) == 0
    net.finalize()
    assert index(engine, net) == 1
    assert balance(engine, pid, AccountKind.STAKE_BONDED) == 6_000
    assert balance(engine, pid, AccountKind.STAKE_UNBONDING) == 4_000
    (unbond,) = transfers_of_code(engine, codes.STAKE_UNBOND)
    assert unbond == (f"unbond:{pid}:chain:{entry}", 4_000)

    rpc(net.w3, "evm_increaseTime", UNBONDING_S + 1)
    net.send(vault.functions.withdraw(entry), key)
    net.finalize()
    assert index(engine, net) == 1
    assert balance(engine, pid, AccountKind.STAKE_UNBONDING) == 0
    assert transfers_of_code(engine, codes.STAKE_WITHDRAW) == [
        (f"withdraw:{pid}:chain:{entry}", 4_000)
    ]
    assert [e["mirror"] for e in events(engine)] == ["mirrored"] * 3

    report = reconcile(engine, net)
    assert report.ok and report.drifts == [], report
    assert not halted(engine)


def test_a_stake_the_ledger_cannot_mirror_is_recorded_with_its_reason(
    engine: Engine, net: Net
) -> None:
    stranger = net.key()  # not a registered provider
    net.fund_and_stake(stranger, 500)
    net.finalize()
    assert index(engine, net) == 1
    (ev,) = events(engine)
    assert ev["event"] == "Staked" and ev["mirror"] == "refused"
    assert ev["reason"].startswith("provider_not_found")
    assert index(engine, net) == 0
    report = reconcile(engine, net)
    assert report.ok  # an unknown staker is a note, not a drift of the ledger
    assert any(n.startswith("unknown_staker") for n in report.notes)


def test_a_stake_not_final_yet_is_no_drift_but_a_missing_mirror_is(
    engine: Engine, net: Net
) -> None:
    key = net.key()
    pid = register(engine, key)
    net.fund_and_stake(key, 1_000)
    net.finalize()
    index(engine, net)
    net.fund_and_stake(key, 2_000)  # on chain, not final: the reconciler bridges the gap
    assert reconcile(engine, net).ok
    # The ledger moves stake the chain did not (an off-chain unbond): a named drift.
    with transaction(engine) as conn:
        staking.request_unbond(conn, provider_id=pid, amount_base_units=300,
                               request_id="off-chain", now=now(), params=QUICK)  # fmt: skip
    report = reconcile(engine, net)
    assert not report.ok
    (drift,) = report.drifts
    assert (drift.check, drift.subject, drift.expected, drift.got) == (
        "bonded",
        pid,
        "2700",
        "3000",
    )
    assert halted(engine)


# --- the reconciler: out-of-band transfer, wrong root ---------------------------------------


def test_an_out_of_band_transfer_to_the_vault_is_a_drift_that_halts_settlement(
    engine: Engine, net: Net, caplog: pytest.LogCaptureFixture
) -> None:
    key = net.key()
    register(engine, key)
    net.fund_and_stake(key, 10_000)
    net.finalize()
    index(engine, net)
    assert reconcile(engine, net).ok and not halted(engine)
    token = net.contract("SwarmToken")
    outsider = net.key()
    net.send(token.functions.mint(outsider.address, 7), net.deployer)
    net.send(token.functions.transfer(net.deployment.vault, 7), outsider)
    with caplog.at_level(logging.ERROR, logger="ledger.settlement.reconcile"):
        report = reconcile(engine, net)
    assert not report.ok
    (drift,) = report.drifts
    assert (drift.check, drift.expected, drift.got) == ("vault_balance", "10000", "10007")
    assert drift.subject == net.deployment.vault.lower()
    assert halted(engine)
    assert any("settlement halted" in r.getMessage() for r in caplog.records)
    # The report is readable over the API.
    body = api(engine).get("/v1/settlement/reconciliation").json()
    assert body["ok"] is False and body["halted"] is True
    assert body["drifts"][0]["check"] == "vault_balance"
    assert body["drifts"][0]["got"] == "10007"


def closed_epochs_with_a_root(engine: Engine) -> tuple[str, int]:
    """A provider whose nodes earned and matured rewards; (provider, latest root's epoch)."""
    nodes = make_fleet(engine, 2, params=QUICK)
    e0 = future_epoch(QUICK)
    bond(engine, nodes, at(e0 * 60 - 1))
    last = None
    for e in range(e0, e0 + 5):
        send_epoch(engine, nodes, e, QUICK)
        with transaction(engine) as conn:
            row = epochs.close_epoch(conn, e, now=at(epoch_settles_at(e, QUICK)), params=QUICK)
        if row.epoch.leaf_count > 0:
            last = e
    assert last is not None
    return nodes[0].provider_id, last


def post_all_roots(engine: Engine, net: Net) -> None:
    chain = net.chain()
    settlement.submit_due(run(engine), chain, now=now())
    net.finalize()
    settlement.track(run(engine), chain, now=now())


def test_a_claim_with_the_ledgers_proof_moves_claimable_to_claimed_once(
    engine: Engine, net: Net
) -> None:
    provider, epoch = closed_epochs_with_a_root(engine)
    post_all_roots(engine, net)
    with engine.connect() as conn:
        item = settlement.item_settlement(conn, "root", str(epoch))
        r = rewards_service.provider_rewards(conn, provider, QUICK)
    assert item is not None and item["status"] == ItemStatus.FINAL
    assert r.leaf_epoch == epoch and r.claimable_base_units > 0
    amount = r.claimable_base_units
    proof = [r.proof[i : i + 32] for i in range(0, len(r.proof), 32)]
    token, dist = net.contract("SwarmToken"), net.contract("RewardsDistributor")
    net.send(token.functions.mint(dist.address, amount), net.deployer)
    index(engine, net)
    assert balance(engine, provider, AccountKind.REWARDS_CLAIMABLE) == amount
    assert reconcile(engine, net).ok

    # The provider claims with its own address (impersonated: the fleet's ids have no key).
    claimer = Web3.to_checksum_address(provider)
    rpc(net.w3, "anvil_impersonateAccount", claimer)
    rpc(net.w3, "anvil_setBalance", claimer, hex(10**21))
    net.send(dist.functions.claim(epoch, claimer, amount, proof), claimer)
    assert token.functions.balanceOf(claimer).call() == amount
    assert index(engine, net) == 0  # not final: still claimable in the ledger
    assert balance(engine, provider, AccountKind.REWARDS_CLAIMABLE) == amount
    assert reconcile(engine, net).ok  # the pending claim bridges the gap
    net.finalize()
    assert index(engine, net) == 1
    assert index(engine, net) == 0
    assert balance(engine, provider, AccountKind.REWARDS_CLAIMABLE) == 0
    assert balance(engine, provider, AccountKind.REWARDS_CLAIMED) == amount
    (claim,) = transfers_of_code(engine, codes.REWARD_CLAIMED)
    assert claim[1] == amount and claim[0].startswith("claim:0x")
    with engine.connect() as conn:
        assert epochs.verify_leaves(conn) == []
    report = reconcile(engine, net)
    assert report.ok and report.drifts == [], report


def test_a_root_on_chain_that_is_not_the_ledgers_is_a_drift(engine: Engine, net: Net) -> None:
    _, epoch = closed_epochs_with_a_root(engine)
    later = epoch + 1  # a root the ledger never computed, posted by the poster's key
    dist = net.contract("RewardsDistributor")
    net.send(dist.functions.postRoot(later, b"\x66" * 32, b"\x01" * 32, b"\x02" * 32, 1),
             net.root_poster)  # fmt: skip
    net.finalize()
    index(engine, net)
    report = reconcile(engine, net)
    assert not report.ok and halted(engine)
    root_drifts = [d for d in report.drifts if d.check == "root"]
    assert len(root_drifts) == 1
    assert root_drifts[0].subject == f"epoch {later}"
    assert root_drifts[0].got == "0x" + "66" * 32


# --- API ----------------------------------------------------------------------------------


def api(engine: Engine, **settings: Any) -> TestClient:
    runtime = Runtime(
        settings=Settings(**settings), database=Resolved("postgresql://unused", "external"),
        redis=Resolved("redis://unused", "external"), engine=engine, params=QUICK,
    )  # fmt: skip
    app = create_app(runtime)
    if not any(getattr(r, "path", "").startswith("/v1/settlement") for r in app.routes):
        app.include_router(settlement_router.router)  # until ROUTERS lists it
    return TestClient(app, raise_server_exceptions=False)


def test_the_stake_endpoint_is_refused_in_chain_mode(engine: Engine) -> None:
    key: LocalAccount = Account.create()
    pid = register(engine, key)
    body = {"amount_base_units": "100", "bond_id": "b1"}
    headers = {"Authorization": "Bearer op-token"}
    chain_mode = api(engine, operator_token="op-token", chain_rpc_url="http://127.0.0.1:1")
    r = chain_mode.post(f"/v1/providers/{pid}/stake", json=body, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "chain_mode"
    assert balance(engine, pid, AccountKind.STAKE_BONDED) == 0
    plain = api(engine, operator_token="op-token")
    r = plain.post(f"/v1/providers/{pid}/stake", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert balance(engine, pid, AccountKind.STAKE_BONDED) == 100


def test_settlement_routes_answer_the_outbox_items(engine: Engine, net: Net) -> None:
    client = api(engine)
    assert client.get("/v1/settlement/reconciliation").json()["id"] is None
    r = client.get("/v1/settlement/epochs/5")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_in_outbox"
    assert client.get("/v1/settlement/penalties/nope").status_code == 404
    with transaction(engine) as conn:
        outbox.put(conn, "root", "5", epochs.root_payload(5, b"\x05" * 32, "ab" * 32, "cd" * 32,
                                                          1), now())  # fmt: skip
    assert client.get("/v1/settlement/epochs/5").json()["status"] == "queued"
    post_all_roots(engine, net)
    body = client.get("/v1/settlement/epochs/5").json()
    assert body["status"] == "final" and body["final"] is True
    assert len(body["tx_hashes"]) == 1 and body["block_number"] is not None
    assert [e["status"] for e in body["transactions"][0]["events"]] == ["submitted", "final"]


def test_a_slash_the_ledger_executed_is_no_drift_on_its_way_to_the_chain(
    engine: Engine, net: Net
) -> None:
    key = net.key()
    pid = register(engine, key)
    net.fund_and_stake(key, 10_000)
    net.finalize()
    index(engine, net)
    penalty = "0a" * 32
    # The ledger executes a slash of 1,000 from bonded stake (hold, then posted) and puts it in
    # the outbox, as the slashing service does.
    with transaction(engine) as conn:
        bonded = SettlementRepository(conn).provider_account(pid, AccountKind.STAKE_BONDED)
        escrow = open_system_accounts(conn)["slash_escrow"]
        hold = f"slash:{penalty}:stake"
        create_transfers(conn, [
            TransferRequest(hold, bonded, escrow, 1_000, codes.SLASH_HOLD,
                            kind=TransferKind.PENDING),
            TransferRequest(f"{hold}:execute", None, None, None, codes.SLASH_EXECUTE,
                            kind=TransferKind.POST_PENDING, ref_id=hold),
        ], now=now())  # fmt: skip
    assert balance(engine, pid, AccountKind.STAKE_BONDED) == 9_000
    assert not reconcile(engine, net).ok  # the chain still holds 10,000 and nothing explains it
    with transaction(engine) as conn:
        outbox.put(conn, "slash", penalty, {
            "slash_id": penalty, "provider": pid, "amount_base_units": "1000",
            "infraction_at_s": 0}, now())  # fmt: skip
    assert reconcile(engine, net).ok  # on its way: the outbox explains the difference
    chain = net.chain()
    settlement.submit_due(run(engine), chain, now=now())
    assert net.contract("StakingVault").functions.bondedOf(key.address).call() == 9_000
    assert reconcile(engine, net).ok  # on chain, not final: the Slashed log bridges the gap
    net.finalize()
    settlement.track(run(engine), chain, now=now())
    assert index(engine, net) == 1
    assert [e["event"] for e in events(engine)][-1] == "Slashed"
    report = reconcile(engine, net)
    assert report.ok and report.drifts == [], report


def test_two_watchers_at_once_record_and_book_each_event_once(engine: Engine, net: Net) -> None:
    keys = [net.key() for _ in range(3)]
    for k in keys:
        register(engine, k)
        net.fund_and_stake(k, 1_000)
    net.finalize()
    counts: list[int] = []
    threads = [threading.Thread(target=lambda: counts.append(index(engine, net)))
               for _ in range(2)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(counts) == [0, 3]
    assert len(transfers_of_code(engine, codes.STAKE_BOND)) == 3
    with engine.connect() as conn:
        ranges = driver(conn).execute("SELECT from_block, to_block FROM chain_cursor").fetchall()
    assert len(ranges) == 1  # one range, indexed by one of them
