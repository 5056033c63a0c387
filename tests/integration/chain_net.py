"""A real anvil with the contracts deployed, for the settlement and chain-watcher tests."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Connection, Engine
from web3 import Web3

from ledger.chain.anvil import Anvil, anvil_binary
from ledger.chain.contracts import build, contract_at, send, signer_address, wait
from ledger.chain.deploy import DeployConfig, Deployment, deploy
from ledger.kit.db import transaction
from ledger.params.domain import demo_params
from ledger.settlement import service as settlement
from ledger.settlement.domain import FeePolicy

GWEI = 10**9
P = demo_params()
#: Rewards mature after 3 epochs of 60 s, so a root with leaves comes after a few closes.
QUICK = dataclasses.replace(
    P,
    slashing=dataclasses.replace(P.slashing, appeal_window_s=60),
    epoch=dataclasses.replace(P.epoch, reward_maturity_s=180),
)
#: anvil's `finalized` block is 64 behind its head.
FINALITY_DEPTH = 64
GAS = 300_000


@pytest.fixture
def node() -> Iterator[Anvil]:
    """A fresh anvil from npm (skipped where it is not installed)."""
    try:
        anvil_binary()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    with Anvil() as a:
        yield a


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


@dataclasses.dataclass
class Net:
    w3: Web3
    deployment: Deployment
    root_poster: LocalAccount
    slasher: LocalAccount
    deployer: str

    def chain(self, w3: Web3 | None = None, **kw: Any) -> settlement.Chain:
        return settlement.Chain(
            w3=w3 or self.w3, distributor=self.deployment.distributor,
            vault=self.deployment.vault, root_poster=self.root_poster, slasher=self.slasher,
            fees=kw.pop("fees", FeePolicy(100 * GWEI, GWEI)), **kw,
        )  # fmt: skip

    def contract(self, name: str) -> Any:
        address = {"SwarmToken": self.deployment.token, "StakingVault": self.deployment.vault,
                   "RewardsDistributor": self.deployment.distributor}[name]  # fmt: skip
        return contract_at(self.w3, name, address)

    def mine(self, blocks: int = 1) -> None:
        rpc(self.w3, "anvil_mine", hex(blocks))

    def finalize(self) -> None:
        self.mine(FINALITY_DEPTH + 1)

    def send(self, fn: Any, signer: LocalAccount | str) -> Any:
        nonce = self.w3.eth.get_transaction_count(signer_address(signer), "pending")
        receipt = wait(self.w3, send(self.w3, build(fn, signer, gas=GAS, nonce=nonce), signer))
        assert receipt["status"] == 1
        return receipt

    def key(self) -> LocalAccount:
        """A fresh provider key with ETH for gas."""
        k: LocalAccount = Account.create()
        rpc(self.w3, "anvil_setBalance", k.address, hex(10**21))
        return k

    def fund_and_stake(self, key: LocalAccount, amount: int, tier_days: int = 0) -> Any:
        token, vault = self.contract("SwarmToken"), self.contract("StakingVault")
        self.send(token.functions.mint(key.address, amount), self.deployer)
        self.send(token.functions.approve(vault.address, amount), key)
        return self.send(vault.functions.stake(amount, tier_days), key)


def deploy_net(node: Anvil, **config: Any) -> Net:
    """The contracts on ``node``: role keys of their own (with ETH), no activation delay, the
    deployer keeps the admin roles; ``config`` overrides the DeployConfig."""
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    deployer = w3.eth.accounts[0]
    root_poster, slasher = Account.create(), Account.create()
    for k in (root_poster, slasher):
        rpc(w3, "anvil_setBalance", k.address, hex(10**21))
    base = {"guardian": deployer, "insurance": w3.eth.accounts[1],
            "treasury": w3.eth.accounts[2], "activation_delay_s": 0,
            "hand_admin_to_timelock": False}  # fmt: skip
    d = deploy(w3, deployer, DeployConfig(root_poster=root_poster.address,
                                          slasher=slasher.address, **(base | config)))  # fmt: skip
    return Net(w3, d, root_poster, slasher, deployer)


def run(engine: Engine) -> Callable[[], AbstractContextManager[Connection]]:
    return lambda: transaction(engine)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
