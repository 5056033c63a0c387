"""SwarmToken (mint role, permit, burn), the timelock wiring of deploy.py, the typed
transaction builders with both kinds of signer, revert decoding, and the anvil wrapper."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from web3 import Web3

from ledger.chain.anvil import Anvil
from ledger.chain.contracts import (
    CLAIM_GAS,
    POST_ROOT_GAS,
    SlashItem,
    claim_tx,
    contract_at,
    decode_revert_data,
    error_names,
    post_root_tx,
    send,
    slash_batch_gas,
    slash_batch_tx,
    wait,
)
from ledger.chain.deploy import (
    DEFAULT_ADMIN_ROLE,
    GUARDIAN_ROLE,
    MINTER_ROLE,
    PAUSER_ROLE,
    ROOT_POSTER_ROLE,
    SLASHER_ROLE,
    DeployConfig,
    Deployment,
    deploy,
)
from ledger.rewards.domain.merkle import build_tree
from tests.contracts.conftest import E18, Chain, System
from tests.contracts.helpers import assert_reverts, events


def test_token_basics_and_mint_role(system: System) -> None:
    t, p = system.token.functions, system.providers[0]
    assert (t.name().call(), t.symbol().call(), t.decimals().call()) == ("Swarm", "SWARM", 18)
    system.tx(t.mint(p, 5 * E18), system.deployer)
    assert t.balanceOf(p).call() == 5 * E18
    assert_reverts(system.w3, t.mint(p, 1), p, "AccessControlUnauthorizedAccount",
                   account=p, neededRole=MINTER_ROLE)  # fmt: skip
    system.tx(t.burn(E18), p)
    assert t.totalSupply().call() == 4 * E18


def test_permit_sets_an_allowance_from_a_signature(chain: Chain, system: System) -> None:
    owner = Account.create()
    spender, t = system.providers[1], system.token.functions
    deadline = chain.now() + 3600
    signed = Account.sign_typed_data(
        owner.key,
        {"name": "Swarm", "version": "1", "chainId": system.w3.eth.chain_id,
         "verifyingContract": system.token.address},
        {"Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"}]},
        {"owner": owner.address, "spender": spender, "value": 77, "nonce": 0,
         "deadline": deadline},
    )  # fmt: skip
    r, s = signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
    system.tx(t.permit(owner.address, spender, 77, deadline, signed.v, r, s), spender)
    assert t.allowance(owner.address, spender).call() == 77
    assert t.nonces(owner.address).call() == 1
    assert_reverts(system.w3, t.permit(owner.address, spender, 77, deadline, signed.v, r, s),
                   spender, "ERC2612InvalidSigner")  # fmt: skip


def test_deploy_hands_admin_to_the_timelock(chain: Chain, system: System) -> None:
    w3, a = system.w3, chain.accounts
    config = DeployConfig(root_poster=a[1], slasher=a[2], guardian=a[3], insurance=a[4],
                          treasury=a[5], timelock_delay_s=60)  # fmt: skip
    d = deploy(w3, a[0], config)
    assert Deployment.from_json(d.to_json()) == d
    assert d.admin == d.timelock and d.deployer == a[0]
    token = contract_at(w3, "SwarmToken", d.token)
    vault = contract_at(w3, "StakingVault", d.vault)
    dist = contract_at(w3, "RewardsDistributor", d.distributor)
    timelock = contract_at(w3, "SwarmTimelock", d.timelock)
    for c in (token, vault, dist):
        assert c.functions.hasRole(DEFAULT_ADMIN_ROLE, d.timelock).call()
        assert not c.functions.hasRole(DEFAULT_ADMIN_ROLE, a[0]).call()
    assert token.functions.hasRole(MINTER_ROLE, a[0]).call()
    assert vault.functions.hasRole(SLASHER_ROLE, a[2]).call()
    assert vault.functions.hasRole(PAUSER_ROLE, a[3]).call()
    assert dist.functions.hasRole(ROOT_POSTER_ROLE, a[1]).call()
    assert dist.functions.hasRole(GUARDIAN_ROLE, a[3]).call()
    # The deployer can no longer change parameters directly ...
    assert_reverts(w3, vault.functions.setUnbondingPeriod(1), a[0],
                   "AccessControlUnauthorizedAccount", neededRole=DEFAULT_ADMIN_ROLE)  # fmt: skip
    # ... only through the timelock, after its delay.
    data = vault.encode_abi("setUnbondingPeriod", args=[14 * 86_400])
    args = (d.vault, 0, data, bytes(32), bytes(32))
    system.tx(timelock.functions.schedule(*args, 60), a[0])
    assert_reverts(w3, timelock.functions.execute(*args), a[0], "TimelockUnexpectedOperationState")
    chain.advance(61)
    system.tx(timelock.functions.execute(*args), a[0])
    assert vault.functions.unbondingPeriod().call() == 14 * 86_400
    assert timelock.functions.getMinDelay().call() == 60


def test_typed_builders_send_with_a_node_account_and_a_local_key(
    chain: Chain, system: System
) -> None:
    w3 = system.w3
    local = Account.create()
    system.tx(system.distributor.functions.grantRole(ROOT_POSTER_ROLE, local.address),
              system.deployer)  # fmt: skip
    w3.eth.send_transaction({"from": system.deployer, "to": local.address, "value": E18,
                             "gas": 21_000})  # fmt: skip
    tree = build_tree([(system.providers[0], 10)])
    nonce = w3.eth.get_transaction_count(local.address)
    fee = 2 * int(w3.eth.get_block("latest")["baseFeePerGas"]) + 10**9
    tx = post_root_tx(
        w3, system.distributor.address, epoch=1, root=tree.root, inputs_digest="0x" + "33" * 32,
        params_hash=bytes(32), calculator_version=2, sender=local, nonce=nonce,
        max_fee_per_gas=fee, max_priority_fee_per_gas=10**9,
    )  # fmt: skip
    assert (tx["gas"], tx["nonce"], tx["maxFeePerGas"]) == (POST_ROOT_GAS, nonce, fee)
    receipt = wait(w3, send(w3, tx, local))
    assert receipt["status"] == 1
    assert receipt["gasUsed"] < POST_ROOT_GAS
    assert system.distributor.functions.latestEpoch().call() == 1

    p = system.providers[0]
    system.fund_and_stake(p, 100)
    slashes = [SlashItem("0x" + "00" * 31 + "01", p, 30, 0), SlashItem(b"\x02" * 32, p, 5, 0)]
    tx = slash_batch_tx(w3, system.vault.address, slashes, sender=system.slasher)
    assert tx["gas"] == slash_batch_gas(2)
    receipt = wait(w3, send(w3, tx, system.slasher))
    assert receipt["status"] == 1 and receipt["gasUsed"] < tx["gas"]
    assert system.vault.functions.bondedOf(p).call() == 65
    with pytest.raises(ValueError):
        slash_batch_tx(w3, system.vault.address, [], sender=system.slasher)

    system.tx(system.token.functions.mint(system.distributor.address, 10), system.deployer)
    chain.advance(3_601)
    tx = claim_tx(w3, system.distributor.address, epoch=1, account=p, cumulative_amount=10,
                  proof=tree.proof(p), sender=p)  # fmt: skip
    assert tx["gas"] == CLAIM_GAS
    receipt = wait(w3, send(w3, tx, p))
    assert receipt["status"] == 1
    assert events(system.distributor, "Claimed", receipt)[0]["amount"] == 10
    with pytest.raises(ValueError):
        post_root_tx(w3, system.distributor.address, epoch=2, root=b"\x01", inputs_digest=bytes(32),
                     params_hash=bytes(32), calculator_version=1, sender=p)  # fmt: skip


def test_decode_revert_data_names_builtin_and_custom_errors() -> None:
    selector = Web3.keccak(text="Error(string)")[:4]
    err = decode_revert_data(selector + abi_encode(["string"], ["boom"]))
    assert err is not None and (err.name, dict(err.args)) == ("Error", {"message": "boom"})
    panic = decode_revert_data(
        Web3.keccak(text="Panic(uint256)")[:4] + abi_encode(["uint256"], [17])
    )
    assert panic is not None and panic.args == {"code": 17}
    custom = Web3.keccak(text="RootAlreadyPosted(uint64)")[:4] + abi_encode(["uint64"], [9])
    assert decode_revert_data("0x" + custom.hex()) == decode_revert_data(custom)
    assert decode_revert_data(b"\xde\xad\xbe\xef") is None
    assert decode_revert_data(b"") is None
    assert {"NothingToClaim", "StakeLocked", "RootIsDisabled"} <= error_names()


def test_anvil_wrapper_starts_a_fresh_node_and_stops_it(anvil_node: Anvil) -> None:
    with Anvil(chain_id=4242) as node:
        assert node.running and node.port != anvil_node.port
        w3 = Web3(Web3.HTTPProvider(node.url))
        assert w3.eth.chain_id == 4242 and w3.eth.block_number == 0
    assert not node.running
    node.stop()  # idempotent
