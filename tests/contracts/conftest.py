"""Contract-test fixtures: the same deployed system on the in-process eth-tester and on a real
anvil (one fresh anvil per session), each test inside a snapshot reverted afterwards.

``chain`` is parametrized over both backends; ``system`` gives the deployed contracts (the
deployer keeps DEFAULT_ADMIN_ROLE so admin setters can be exercised; the timelock wiring has
its own test) and the role holders; ``hooked`` a vault and a distributor over the ERC-777-like
``HookedToken`` test helper for the reentrancy tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract

from ledger.chain.anvil import Anvil, anvil_binary
from ledger.chain.contracts import contract_at, transact
from ledger.chain.deploy import DeployConfig, Deployment, deploy, deploy_contract

BACKENDS = ("eth-tester", "anvil")
UNBONDING = 7 * 86_400
ACTIVATION = 3_600
E18 = 10**18


class Chain:
    """A backend-neutral handle: web3, accounts, snapshots and the clock."""

    name: str
    w3: Web3

    @property
    def accounts(self) -> list[str]:
        return list(self.w3.eth.accounts)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def snapshot(self) -> Any:
        raise NotImplementedError

    def revert(self, snap: Any) -> None:
        raise NotImplementedError

    def set_next_timestamp(self, ts: int) -> None:
        raise NotImplementedError

    def mine(self) -> None:
        raise NotImplementedError

    def warp(self, ts: int) -> None:
        """Mine an empty block at ``ts``: later blocks and calls see at least ``ts``."""
        self.set_next_timestamp(ts)
        self.mine()

    def advance(self, seconds: int) -> int:
        ts = self.now() + seconds
        self.warp(ts)
        return ts


class EthTesterChain(Chain):
    name = "eth-tester"

    def __init__(self) -> None:
        self.provider = EthereumTesterProvider()
        self.tester = self.provider.ethereum_tester
        self.w3 = Web3(self.provider)

    def snapshot(self) -> Any:
        return self.tester.take_snapshot()

    def revert(self, snap: Any) -> None:
        self.tester.revert_to_snapshot(snap)

    def set_next_timestamp(self, ts: int) -> None:
        self.tester.time_travel(ts)

    def mine(self) -> None:
        self.tester.mine_blocks(1)

    def warp(self, ts: int) -> None:
        # time_travel(t) mines a block at t - 1 (py-evm adds a second when it mines).
        self.tester.time_travel(ts + 1)


class AnvilChain(Chain):
    name = "anvil"

    def __init__(self, node: Anvil) -> None:
        self.node = node
        self.w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        assert "error" not in response, response
        return response["result"]

    def snapshot(self) -> Any:
        return self._rpc("evm_snapshot", [])

    def revert(self, snap: Any) -> None:
        assert self._rpc("evm_revert", [snap]) is True

    def set_next_timestamp(self, ts: int) -> None:
        self._rpc("evm_setNextBlockTimestamp", [ts])

    def mine(self) -> None:
        self._rpc("evm_mine", [])


@dataclass
class System:
    chain: Chain
    deployment: Deployment
    token: Contract
    vault: Contract
    distributor: Contract
    deployer: str
    root_poster: str
    slasher: str
    guardian: str
    insurance: str
    treasury: str
    providers: list[str]

    @property
    def w3(self) -> Web3:
        return self.chain.w3

    def tx(self, fn: Any, sender: str, gas: int = 1_000_000) -> Any:
        receipt = transact(self.w3, fn, sender, gas=gas)
        assert receipt["status"] == 1, f"{fn.fn_name} reverted"
        return receipt

    def fund_and_stake(self, provider: str, amount: int, tier: int = 0) -> Any:
        self.tx(self.token.functions.mint(provider, amount), self.deployer)
        self.tx(self.token.functions.approve(self.vault.address, amount), provider)
        return self.tx(self.vault.functions.stake(amount, tier), provider)


def _make_system(chain: Chain) -> System:
    a = chain.accounts
    config = DeployConfig(
        root_poster=a[1], slasher=a[2], guardian=a[3], insurance=a[4], treasury=a[5],
        unbonding_period_s=UNBONDING, activation_delay_s=ACTIVATION, timelock_delay_s=60,
        hand_admin_to_timelock=False,
    )  # fmt: skip
    d = deploy(chain.w3, a[0], config)
    w3 = chain.w3
    return System(
        chain=chain,
        deployment=d,
        token=contract_at(w3, "SwarmToken", d.token),
        vault=contract_at(w3, "StakingVault", d.vault),
        distributor=contract_at(w3, "RewardsDistributor", d.distributor),
        deployer=a[0], root_poster=a[1], slasher=a[2], guardian=a[3], insurance=a[4],
        treasury=a[5], providers=a[6:10],
    )  # fmt: skip


@dataclass
class Hooked:
    token: Contract
    vault: Contract
    distributor: Contract
    attacker: Contract


def _make_hooked(system: System) -> Hooked:
    w3, me = system.w3, system.deployer
    token = deploy_contract(w3, "HookedToken", me)
    vault = deploy_contract(
        w3, "StakingVault", me, token, me, UNBONDING, system.insurance, system.treasury, 5000, 3000
    )
    distributor = deploy_contract(w3, "RewardsDistributor", me, token, me, 0)
    attacker = deploy_contract(w3, "ReentrantReceiver", me)
    d = contract_at(w3, "RewardsDistributor", distributor)
    system.tx(d.functions.grantRole(d.functions.ROOT_POSTER_ROLE().call(), me), me)
    return Hooked(
        token=contract_at(w3, "HookedToken", token),
        vault=contract_at(w3, "StakingVault", vault),
        distributor=d,
        attacker=contract_at(w3, "ReentrantReceiver", attacker),
    )


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[Anvil]:
    try:
        anvil_binary()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    with Anvil() as node:
        yield node


@dataclass
class _Backend:
    chain: Chain
    system: System
    hooked: Hooked


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> _Backend:
    if request.param == "anvil":
        chain: Chain = AnvilChain(request.getfixturevalue("anvil_node"))
    else:
        chain = EthTesterChain()
    system = _make_system(chain)
    return _Backend(chain=chain, system=system, hooked=_make_hooked(system))


@pytest.fixture
def chain(backend: _Backend) -> Iterator[Chain]:
    snap = backend.chain.snapshot()
    try:
        yield backend.chain
    finally:
        backend.chain.revert(snap)


@pytest.fixture
def system(backend: _Backend, chain: Chain) -> System:
    return backend.system


@pytest.fixture
def hooked(backend: _Backend, chain: Chain) -> Hooked:
    return backend.hooked
