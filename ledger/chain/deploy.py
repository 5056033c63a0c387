"""Deploy token, vault, distributor and timelock, grant the operating roles, hand the admin
roles to the timelock (the deployer renounces them), and describe the result as JSON.

Order: token, timelock, vault, distributor; MINTER_ROLE to the minter; ROOT_POSTER_ROLE and
GUARDIAN_ROLE on the distributor; SLASHER_ROLE and PAUSER_ROLE (the guardian) on the vault;
then DEFAULT_ADMIN_ROLE of all three to the timelock and renounced by the deployer. With
``hand_admin_to_timelock=False`` the deployer stays admin (tests that exercise admin setters).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from web3 import Web3

from ledger.chain.artifacts import load_artifact
from ledger.chain.contracts import Signer, contract_at, send, signer_address, transact, wait

DEPLOY_GAS = 8_000_000
ROLE_GAS = 120_000
DEFAULT_ADMIN_ROLE = bytes(32)
DAY_S = 86_400


def role(name: str) -> bytes:
    """The AccessControl role id ``keccak256(name)``."""
    return bytes(Web3.keccak(text=name))


MINTER_ROLE = role("MINTER_ROLE")
SLASHER_ROLE = role("SLASHER_ROLE")
PAUSER_ROLE = role("PAUSER_ROLE")
ROOT_POSTER_ROLE = role("ROOT_POSTER_ROLE")
GUARDIAN_ROLE = role("GUARDIAN_ROLE")


@dataclass(frozen=True, slots=True)
class DeployConfig:
    """Who holds which role and the initial parameters (SPEC defaults)."""

    root_poster: str
    slasher: str
    guardian: str
    insurance: str
    treasury: str
    minter: str | None = None  # default: the deployer
    unbonding_period_s: int = 7 * DAY_S
    activation_delay_s: int = 3_600
    insurance_bps: int = 5_000
    treasury_bps: int = 3_000
    timelock_delay_s: int = 2 * DAY_S
    timelock_proposers: tuple[str, ...] = ()  # default: the deployer
    timelock_executors: tuple[str, ...] = ()  # default: the proposers
    hand_admin_to_timelock: bool = True


@dataclass(frozen=True, slots=True)
class Deployment:
    """Addresses of one deployment; ``to_json`` / ``from_json`` keep it in a file."""

    chain_id: int
    token: str
    vault: str
    distributor: str
    timelock: str
    deployer: str
    block_number: int
    admin: str = field(default="")  # the timelock, or the deployer when it kept the role

    def to_json(self) -> str:
        """Stable JSON (sorted keys)."""
        return json.dumps(asdict(self), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        """Read what :meth:`to_json` wrote."""
        raw: dict[str, Any] = json.loads(text)
        return cls(**raw)


def deploy_contract(w3: Web3, name: str, deployer: Signer, *args: Any) -> str:
    """Deploy artifact ``name`` with constructor ``args``; return its address."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi_list, bytecode=artifact.bytecode)
    tx = factory.constructor(*args).build_transaction(
        {"from": signer_address(deployer), "gas": DEPLOY_GAS}
    )
    receipt = wait(w3, send(w3, tx, deployer))
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise RuntimeError(f"deployment of {name} failed: {receipt['transactionHash'].hex()}")
    return str(receipt["contractAddress"])


def require_success(receipt: Any, what: str) -> None:
    """Raise unless ``receipt`` is of a transaction that succeeded (status 1)."""
    if receipt["status"] != 1:
        raise RuntimeError(f"{what} failed: {receipt['transactionHash'].hex()}")


def deploy(w3: Web3, deployer: Signer, config: DeployConfig) -> Deployment:
    """Deploy and wire the four contracts; return their addresses."""
    me = signer_address(deployer)
    cs = Web3.to_checksum_address
    token = deploy_contract(w3, "SwarmToken", deployer, me)
    proposers: list[str] = [cs(a) for a in config.timelock_proposers] or [me]
    executors = [cs(a) for a in config.timelock_executors] or proposers
    timelock = deploy_contract(
        w3, "SwarmTimelock", deployer, config.timelock_delay_s, proposers, executors,
        "0x" + "00" * 20,
    )  # fmt: skip
    vault = deploy_contract(
        w3, "StakingVault", deployer, token, me, config.unbonding_period_s,
        cs(config.insurance), cs(config.treasury), config.insurance_bps, config.treasury_bps,
    )  # fmt: skip
    distributor = deploy_contract(
        w3, "RewardsDistributor", deployer, token, me, config.activation_delay_s
    )
    t = contract_at(w3, "SwarmToken", token)
    v = contract_at(w3, "StakingVault", vault)
    d = contract_at(w3, "RewardsDistributor", distributor)
    grants: list[tuple[Any, bytes, str]] = [
        (t, MINTER_ROLE, cs(config.minter or me)),
        (v, SLASHER_ROLE, cs(config.slasher)),
        (v, PAUSER_ROLE, cs(config.guardian)),
        (d, ROOT_POSTER_ROLE, cs(config.root_poster)),
        (d, GUARDIAN_ROLE, cs(config.guardian)),
    ]
    admin = me
    if config.hand_admin_to_timelock:
        grants += [(c, DEFAULT_ADMIN_ROLE, timelock) for c in (t, v, d)]
        admin = timelock
    for contract, role_id, account in grants:
        receipt = transact(
            w3, contract.functions.grantRole(role_id, account), deployer, gas=ROLE_GAS
        )
        require_success(receipt, f"grantRole on {contract.address}")
    if config.hand_admin_to_timelock:
        for contract in (t, v, d):
            receipt = transact(
                w3, contract.functions.renounceRole(DEFAULT_ADMIN_ROLE, me), deployer, gas=ROLE_GAS
            )
            require_success(receipt, f"renounceRole on {contract.address}")
    return Deployment(
        chain_id=w3.eth.chain_id,
        token=token,
        vault=vault,
        distributor=distributor,
        timelock=timelock,
        deployer=me,
        block_number=w3.eth.block_number,
        admin=admin,
    )
