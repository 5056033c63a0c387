"""A reentrant receiver drains nothing: an ERC-777-like token (HookedToken) hands a contract
control while the vault or the distributor pays it, and it calls back in to be paid again."""

from __future__ import annotations

from ledger.chain.contracts import decode_revert_data
from ledger.rewards.domain.merkle import build_tree
from tests.contracts.conftest import UNBONDING, Chain, Hooked, System


def run(system: System, hooked: Hooked, target: object, fn: str, *args: object) -> None:
    data = target.encode_abi(fn, args=list(args))  # type: ignore[attr-defined]
    system.tx(hooked.attacker.functions.execute(target.address, data), system.deployer)  # type: ignore[attr-defined]


def reentry_error(hooked: Hooked) -> str:
    a = hooked.attacker.functions
    assert a.reentryAttempted().call()
    assert not a.reentrySucceeded().call()
    error = decode_revert_data(a.reentryReturnData().call())
    assert error is not None
    return error.name


def test_reentrant_withdraw_pays_once(chain: Chain, system: System, hooked: Hooked) -> None:
    attacker, token, vault = hooked.attacker, hooked.token, hooked.vault
    system.tx(token.functions.mint(attacker.address, 1000), system.deployer)
    run(system, hooked, token, "approve", vault.address, 1000)
    run(system, hooked, vault, "stake", 1000, 0)
    run(system, hooked, vault, "requestUnstake", 400)
    run(system, hooked, vault, "requestUnstake", 600)
    run(system, hooked, token, "registerHook", True)
    # On receipt of entry 1's payment, withdraw entry 2 (and, through it, nothing twice).
    system.tx(
        attacker.functions.arm(vault.address, vault.encode_abi("withdraw", args=[1])),
        system.deployer,
    )
    chain.advance(UNBONDING + 1)
    run(system, hooked, vault, "withdraw", 1)
    assert reentry_error(hooked) == "ReentrancyGuardReentrantCall"
    assert token.functions.balanceOf(attacker.address).call() == 400
    assert token.functions.balanceOf(vault.address).call() == 600
    assert vault.functions.totalUnbonding().call() == 600
    assert tuple(vault.functions.unbondingEntry(1).call())[2:4] == (True, 0)


def test_reentrant_claim_pays_once(chain: Chain, system: System, hooked: Hooked) -> None:
    attacker, token, dist = hooked.attacker, hooked.token, hooked.distributor
    tree = build_tree([(attacker.address, 100), (system.providers[0], 5)])
    system.tx(token.functions.mint(dist.address, 1000), system.deployer)
    system.tx(dist.functions.postRoot(1, tree.root, bytes(32), bytes(32), 1), system.deployer)
    chain.advance(1)
    run(system, hooked, token, "registerHook", True)
    claim = dist.encode_abi("claim", args=[1, attacker.address, 100, tree.proof(attacker.address)])
    system.tx(attacker.functions.arm(dist.address, claim), system.deployer)
    system.tx(attacker.functions.execute(dist.address, claim), system.deployer)
    assert reentry_error(hooked) == "ReentrancyGuardReentrantCall"
    assert token.functions.balanceOf(attacker.address).call() == 100
    assert token.functions.balanceOf(dist.address).call() == 900
    assert dist.functions.claimed(attacker.address).call() == 100
