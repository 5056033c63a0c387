"""The demo's chain: a local anvil from npm with the contracts deployed once (docs/settlement.md).

``swarm-ledger demo`` without CHAIN_RPC_URL starts anvil (one block a second, so finality
advances) with its state in ``data_dir/chain/anvil-state.json`` (written when anvil stops, read
when it starts again), deploys the token, vault, distributor and timelock once (addresses in
``data_dir/chain/deployment.json``; a second run reuses them while the chain still has their
code), and gives the root poster and slasher roles to two keys of their own, kept in encrypted
keystores beside it with a generated passphrase file (mode 0600). The children get
CHAIN_RPC_URL, SWARM_CHAIN_DEPLOYMENT and SWARM_KEYSTORE_PASSWORD_FILE, so the worker settles.

This is for the local demo only: a deployment names its own RPC endpoint, deployment file and
keystores, and nothing here runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from web3 import Web3

from ledger.chain.anvil import Anvil, anvil_binary
from ledger.chain.deploy import DeployConfig, Deployment, deploy
from ledger.settlement.keys import load_keystore, write_keystore

#: One block a second: anvil's ``finalized`` block (64 behind the head) keeps moving.
BLOCK_TIME_S = 1
#: Ether given to each role key on the dev chain (gas only).
ROLE_BALANCE_WEI = 10**21


@dataclass
class DevChain:
    anvil: Anvil
    deployment: Deployment
    env: dict[str, str]
    note: str

    def stop(self) -> None:
        self.anvil.stop()  # anvil writes its state file as it stops


def _role_key(path: Path, password: str) -> str:
    """The address of the key in ``path``, creating it first if there is none."""
    if not path.exists():
        write_keystore(path, Account.create(), password)
    return str(load_keystore(path, password).address)


def start(data_dir: Path, say: Callable[[str], None]) -> DevChain | None:
    """Start the demo chain and deploy once; None (said why) when anvil is not installed."""
    try:
        anvil_binary()
    except FileNotFoundError as err:
        say(f"settlement off: {err} (run `npm ci`)")
        return None
    chain_dir = data_dir / "chain"
    chain_dir.mkdir(parents=True, exist_ok=True)
    password_file = chain_dir / "keystore-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(24) + "\n")
        password_file.chmod(0o600)
    password = password_file.read_text().splitlines()[0]
    # Automine while deploying (no block wait per transaction), then a block a second.
    node = Anvil(extra_args=("--state", str(chain_dir / "anvil-state.json"))).start()
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    deployment_file = chain_dir / "deployment.json"
    known = _live_deployment(w3, deployment_file)
    note = f"contracts deployed (addresses in {deployment_file})"
    if known is None and deployment_file.exists():
        # The chain lost its state (anvil was killed before writing it): a new deployment
        # with new role keys, whose nonces start at 0 again like the chain's.
        for name in ("root_poster.json", "slasher.json"):
            (chain_dir / name).unlink(missing_ok=True)
        note = "the chain's state was lost: contracts deployed again, with new role keys"
    root_poster = _role_key(chain_dir / "root_poster.json", password)
    slasher = _role_key(chain_dir / "slasher.json", password)
    for key in (root_poster, slasher):
        w3.provider.make_request("anvil_setBalance", [key, hex(ROLE_BALANCE_WEI)])  # type: ignore[arg-type]
    if known is not None:
        deployment, note = known, f"contracts reused from {deployment_file}"
    else:
        deployment = _deploy(w3, deployment_file, root_poster, slasher)
    w3.provider.make_request("evm_setIntervalMining", [BLOCK_TIME_S])  # type: ignore[arg-type]
    env = {
        "CHAIN_RPC_URL": node.url,
        "SWARM_CHAIN_DEPLOYMENT": str(deployment_file),
        "SWARM_KEYSTORE_PASSWORD_FILE": str(password_file),
    }
    return DevChain(node, deployment, env, note)


def _live_deployment(w3: Web3, path: Path) -> Deployment | None:
    """The deployment kept in ``path`` if the chain still has its contracts."""
    if not path.exists():
        return None
    known = Deployment.from_json(path.read_text())
    return known if w3.eth.get_code(Web3.to_checksum_address(known.distributor)) else None


def _deploy(w3: Web3, path: Path, root_poster: str, slasher: str) -> Deployment:
    accounts: list[str] = list(w3.eth.accounts)  # anvil's unlocked dev accounts
    deployer = accounts[0]
    config = DeployConfig(
        root_poster=root_poster, slasher=slasher, guardian=deployer,
        insurance=accounts[1], treasury=accounts[2],
    )  # fmt: skip
    fresh = deploy(w3, deployer, config)
    path.write_text(fresh.to_json())
    return fresh
