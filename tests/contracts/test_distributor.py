"""RewardsDistributor on eth-tester and anvil, with trees and proofs built by the ledger's own
merkle module (ledger/rewards/domain/merkle.py): the contract verifies what the ledger emits."""

from __future__ import annotations

import secrets

from web3 import Web3

from ledger.chain.deploy import GUARDIAN_ROLE, ROOT_POSTER_ROLE
from ledger.rewards.domain.merkle import MerkleTree, build_tree
from tests.contracts.conftest import ACTIVATION, Chain, System
from tests.contracts.helpers import assert_reverts, block_ts, events

D1 = b"\x11" * 32  # inputs digest
PH = b"\x22" * 32  # parameter-set hash
ZERO = "0x" + "00" * 20


def tree_for(system: System, amounts: list[int], extra: int = 5) -> MerkleTree:
    leaves = list(zip(system.providers, amounts, strict=False))
    leaves += [(Web3.to_checksum_address("0x" + secrets.token_hex(20)), i) for i in range(extra)]
    return build_tree(leaves)


def post(system: System, epoch: int, tree: MerkleTree, version: int = 1) -> dict:
    fn = system.distributor.functions.postRoot(epoch, tree.root, D1, PH, version)
    return system.tx(fn, system.root_poster)


def fund(system: System, amount: int) -> None:
    system.tx(system.token.functions.mint(system.distributor.address, amount), system.deployer)


def claim_fn(system: System, epoch: int, tree: MerkleTree, account: str, amount: int):
    return system.distributor.functions.claim(epoch, account, amount, tree.proof(account))


def test_post_root_stores_it_with_provenance(system: System) -> None:
    tree = tree_for(system, [10, 20])
    receipt = post(system, 3, tree, version=7)
    ts = block_ts(system.w3, receipt)
    d = system.distributor.functions
    assert tuple(d.epochRoot(3).call()) == (tree.root, ts, ts + ACTIVATION, 7, False)
    assert events(system.distributor, "RootPosted", receipt) == [{
        "epoch": 3, "root": tree.root, "inputsDigest": D1, "paramsHash": PH,
        "calculatorVersion": 7, "activatesAt": ts + ACTIVATION,
    }]  # fmt: skip
    assert (d.latestEpoch().call(), d.anyRootPosted().call()) == (3, True)


def test_post_root_reverts(system: System) -> None:
    d, w3, poster = system.distributor.functions, system.w3, system.root_poster
    tree = tree_for(system, [1])
    assert_reverts(w3, d.postRoot(1, bytes(32), D1, PH, 1), poster, "ZeroRoot", epoch=1)
    assert_reverts(w3, d.postRoot(1, tree.root, D1, PH, 1), system.providers[0],
                   "AccessControlUnauthorizedAccount", neededRole=ROOT_POSTER_ROLE)  # fmt: skip
    post(system, 5, tree)
    assert_reverts(w3, d.postRoot(5, tree.root, D1, PH, 1), poster, "RootAlreadyPosted", epoch=5)
    assert_reverts(w3, d.postRoot(4, tree.root, D1, PH, 1), poster, "EpochNotIncreasing",
                   epoch=4, latestEpoch=5)  # fmt: skip
    system.tx(d.setRootPostingPaused(True), system.guardian)
    assert_reverts(w3, d.postRoot(6, tree.root, D1, PH, 1), poster, "RootPostingIsPaused")
    system.tx(d.setRootPostingPaused(False), system.guardian)
    post(system, 6, tree)


def test_epoch_zero_is_a_valid_first_epoch(system: System) -> None:
    post(system, 0, tree_for(system, [1]))
    d = system.distributor.functions
    assert_reverts(system.w3, d.postRoot(0, b"\x01" * 32, D1, PH, 1), system.root_poster,
                   "RootAlreadyPosted", epoch=0)  # fmt: skip


def test_claim_after_activation_pays_cumulative_minus_claimed(chain: Chain, system: System) -> None:
    p, q = system.providers[0], system.providers[1]
    fund(system, 10_000)
    t1 = tree_for(system, [100, 50])
    activates = block_ts(system.w3, post(system, 1, t1)) + ACTIVATION
    assert_reverts(system.w3, claim_fn(system, 1, t1, p, 100), p, "RootNotActive",
                   epoch=1, activatesAt=activates)  # fmt: skip
    chain.warp(activates)
    receipt = system.tx(claim_fn(system, 1, t1, p, 100), p)
    assert events(system.distributor, "Claimed", receipt) == [
        {"epoch": 1, "account": p, "payout": p, "amount": 100, "cumulativeAmount": 100}
    ]
    assert system.token.functions.balanceOf(p).call() == 100
    # A double claim pays nothing.
    assert_reverts(system.w3, claim_fn(system, 1, t1, p, 100), p, "NothingToClaim",
                   account=p, cumulativeAmount=100, alreadyClaimed=100)  # fmt: skip
    # Epoch 2 raises p's cumulative to 250: the claim pays the 150 difference only.
    t2 = tree_for(system, [250, 50])
    chain.warp(block_ts(system.w3, post(system, 2, t2)) + ACTIVATION)
    system.tx(claim_fn(system, 2, t2, p, 250), p)
    assert system.token.functions.balanceOf(p).call() == 250
    assert system.distributor.functions.claimed(p).call() == 250
    # The older root is still valid but now owes nothing.
    assert_reverts(system.w3, claim_fn(system, 1, t1, p, 100), p, "NothingToClaim")
    # q never claimed epoch 1 and claims straight from epoch 2.
    system.tx(claim_fn(system, 2, t2, q, 50), q)
    assert system.token.functions.balanceOf(system.distributor.address).call() == 10_000 - 300


def test_claim_reverts(chain: Chain, system: System) -> None:
    p, q, d, w3 = system.providers[0], system.providers[1], system.distributor.functions, system.w3
    fund(system, 1000)
    tree = tree_for(system, [100, 50])
    assert_reverts(w3, claim_fn(system, 1, tree, p, 100), p, "UnknownRoot", epoch=1)
    chain.warp(block_ts(w3, post(system, 1, tree)) + ACTIVATION)
    assert_reverts(w3, d.claim(1, p, 101, tree.proof(p)), p, "InvalidProof",
                   epoch=1, account=p, cumulativeAmount=101)  # fmt: skip
    assert_reverts(w3, d.claim(1, p, 100, tree.proof(q)), p, "InvalidProof")
    assert_reverts(w3, claim_fn(system, 1, tree, p, 100), q, "NotClaimer", caller=q, account=p)
    system.tx(d.setClaimsPaused(True), system.guardian)
    assert d.claimsPaused().call()
    assert_reverts(w3, claim_fn(system, 1, tree, p, 100), p, "ClaimsArePaused")
    # Root posting is paused independently of claims.
    post(system, 2, tree_for(system, [100, 50]))
    system.tx(d.setClaimsPaused(False), system.guardian)
    system.tx(claim_fn(system, 1, tree, p, 100), p)


def test_claim_beyond_the_balance_reverts(chain: Chain, system: System) -> None:
    p = system.providers[0]
    fund(system, 99)
    tree = tree_for(system, [100])
    chain.warp(block_ts(system.w3, post(system, 1, tree)) + ACTIVATION)
    assert_reverts(system.w3, claim_fn(system, 1, tree, p, 100), p, "ERC20InsufficientBalance",
                   sender=system.distributor.address, balance=99, needed=100)  # fmt: skip
    assert system.distributor.functions.claimed(p).call() == 0


def test_guardian_disables_a_root_during_and_after_the_delay(chain: Chain, system: System) -> None:
    p, d, w3 = system.providers[0], system.distributor.functions, system.w3
    fund(system, 1000)
    t1 = tree_for(system, [100])
    activates = block_ts(w3, post(system, 1, t1)) + ACTIVATION
    receipt = system.tx(d.disableRoot(1), system.guardian)  # during the delay
    assert events(system.distributor, "RootDisabled", receipt) == [
        {"epoch": 1, "guardian": system.guardian}
    ]
    chain.warp(activates)
    assert_reverts(w3, claim_fn(system, 1, t1, p, 100), p, "RootIsDisabled", epoch=1)
    assert_reverts(w3, d.disableRoot(1), system.guardian, "RootIsDisabled", epoch=1)
    assert_reverts(w3, d.disableRoot(9), system.guardian, "UnknownRoot", epoch=9)
    assert_reverts(w3, d.disableRoot(1), p, "AccessControlUnauthorizedAccount",
                   neededRole=GUARDIAN_ROLE)  # fmt: skip
    # After activation: claims work until the guardian disables it.
    t2 = tree_for(system, [200])
    chain.warp(block_ts(w3, post(system, 2, t2)) + ACTIVATION)
    q = system.providers[1]
    t3 = build_tree([(p, 300), (q, 10)])
    chain.warp(block_ts(w3, post(system, 3, t3)) + ACTIVATION)
    system.tx(claim_fn(system, 3, t3, q, 10), q)
    system.tx(d.disableRoot(3), system.guardian)
    assert_reverts(w3, claim_fn(system, 3, t3, p, 300), p, "RootIsDisabled", epoch=3)
    system.tx(claim_fn(system, 2, t2, p, 200), p)  # epoch 2 is still good
    assert system.token.functions.balanceOf(p).call() == 200


def test_named_claimer_and_payout_address(chain: Chain, system: System) -> None:
    p, claimer, payout = system.providers[0], system.providers[1], system.providers[2]
    d = system.distributor.functions
    fund(system, 1000)
    tree = tree_for(system, [100])
    chain.warp(block_ts(system.w3, post(system, 1, tree)) + ACTIVATION)
    receipt = system.tx(d.setClaimer(claimer), p)
    assert events(system.distributor, "ClaimerSet", receipt) == [{"account": p, "claimer": claimer}]
    receipt = system.tx(d.setPayoutAddress(payout), p)
    assert events(system.distributor, "PayoutAddressSet", receipt) == [
        {"account": p, "payout": payout}
    ]
    assert (d.claimerOf(p).call(), d.payoutOf(p).call()) == (claimer, payout)
    receipt = system.tx(claim_fn(system, 1, tree, p, 100), claimer)
    assert events(system.distributor, "Claimed", receipt)[0]["payout"] == payout
    assert system.token.functions.balanceOf(payout).call() == 100
    assert system.token.functions.balanceOf(claimer).call() == 0
    system.tx(d.setPayoutAddress(ZERO), p)
    assert d.payoutOf(p).call() == p
    system.tx(d.setClaimer(ZERO), p)
    assert_reverts(system.w3, claim_fn(system, 1, tree, p, 100), claimer, "NotClaimer")


def test_admin_and_guardian_settings(system: System) -> None:
    d, me, w3 = system.distributor.functions, system.deployer, system.w3
    receipt = system.tx(d.setActivationDelay(60), me)
    assert events(system.distributor, "ActivationDelayChanged", receipt) == [
        {"previous": ACTIVATION, "current": 60}
    ]
    assert d.activationDelay().call() == 60
    top = d.MAX_ACTIVATION_DELAY().call()
    assert_reverts(w3, d.setActivationDelay(top + 1), me, "ActivationDelayTooLong",
                   delay=top + 1, max=top)  # fmt: skip
    assert_reverts(w3, d.setActivationDelay(1), system.guardian, "AccessControlUnauthorizedAccount")
    assert_reverts(w3, d.setClaimsPaused(True), me, "AccessControlUnauthorizedAccount")
    assert_reverts(w3, d.setRootPostingPaused(True), system.root_poster,
                   "AccessControlUnauthorizedAccount")  # fmt: skip
    receipt = system.tx(d.setClaimsPaused(True), system.guardian)
    assert events(system.distributor, "ClaimsPauseChanged", receipt) == [{"paused": True}]
    receipt = system.tx(d.setRootPostingPaused(True), system.guardian)
    assert events(system.distributor, "RootPostingPauseChanged", receipt) == [{"paused": True}]
    assert d.token().call() == system.token.address


def test_a_thousand_leaf_tree_from_the_ledger_verifies(chain: Chain, system: System) -> None:
    p = system.providers[0]
    leaves = [(Web3.to_checksum_address("0x" + secrets.token_hex(20)), i) for i in range(999)]
    tree = build_tree([*leaves, (p, 12_345)])
    fund(system, 12_345)
    chain.warp(block_ts(system.w3, post(system, 1, tree)) + ACTIVATION)
    assert len(tree.proof(p)) >= 9
    system.tx(claim_fn(system, 1, tree, p, 12_345), p)
    assert system.token.functions.balanceOf(p).call() == 12_345


def test_single_leaf_tree_has_an_empty_proof(chain: Chain, system: System) -> None:
    p = system.providers[0]
    tree = build_tree([(p, 5)])
    fund(system, 5)
    chain.warp(block_ts(system.w3, post(system, 1, tree)) + ACTIVATION)
    assert tree.proof(p) == []
    system.tx(claim_fn(system, 1, tree, p, 5), p)


def test_constructor_refuses_zero_addresses(system: System) -> None:
    import pytest

    from ledger.chain.artifacts import load_artifact
    from ledger.chain.contracts import decode_revert

    art = load_artifact("RewardsDistributor")
    factory = system.w3.eth.contract(abi=art.abi_list, bytecode=art.bytecode)
    for token, admin in ((ZERO, system.deployer), (system.token.address, ZERO)):
        tx = factory.constructor(token, admin, 0).build_transaction(
            {"from": system.deployer, "gas": 8_000_000}
        )
        with pytest.raises(Exception) as info:
            system.w3.eth.call({"from": system.deployer, "data": tx["data"], "gas": 8_000_000})
        err = decode_revert(info.value)
        assert err is not None and err.name == "ZeroAddress"
    too_long = factory.constructor(system.token.address, system.deployer, 31 * 86_400)
    tx = too_long.build_transaction({"from": system.deployer, "gas": 8_000_000})
    with pytest.raises(Exception) as info:
        system.w3.eth.call({"from": system.deployer, "data": tx["data"], "gas": 8_000_000})
    err = decode_revert(info.value)
    assert err is not None and err.name == "ActivationDelayTooLong"
