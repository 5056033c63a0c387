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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from ledger.chain import contracts as chain_tx
from ledger.chain.anvil import Anvil, anvil_binary
from ledger.chain.contracts import contract_at, transact
from ledger.chain.deploy import DeployConfig, Deployment, deploy, require_success
from ledger.settlement.keys import load_keystore, write_keystore

#: One block a second: anvil's ``finalized`` block (64 behind the head) keeps moving.
BLOCK_TIME_S = 1
#: anvil's finalized block is this far behind its head.
FINALITY_DEPTH = 64
#: Ether given to each role and provider key on the dev chain (gas only).
ROLE_BALANCE_WEI = 10**21
#: The demo's contract parameters: a root is claimable 30 s after it is posted, and unstaked
#: SWARM is withdrawable 3 minutes after the request (SPEC's periods are days).
DEMO_ACTIVATION_DELAY_S = 30
DEMO_UNBONDING_S = 180
#: What the distributor is funded with at deployment (claims are paid from it).
DISTRIBUTOR_FUNDING = 10**9 * 10**18
#: What each simulated provider stakes beyond its requirement (the one that unstakes, unstakes
#: this much, so it stays compliant).
EXTRA_STAKE = 10 * 10**18
#: Gas of the demo providers' own transactions.
PROVIDER_TX_GAS = 300_000


@dataclass
class DevChain:
    anvil: Anvil
    deployment: Deployment
    env: dict[str, str]
    note: str

    def stop(self) -> None:
        self.anvil.stop()  # anvil writes its state file as it stops

    def web3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.anvil.url, request_kwargs={"timeout": 30}))


def _role_key(path: Path, password: str) -> str:
    """The address of the key in ``path``, creating it first if there is none."""
    if not path.exists():
        write_keystore(path, Account.create(), password)
    return str(load_keystore(path, password).address)


def start(
    data_dir: Path,
    say: Callable[[str], None],
    providers: Mapping[str, tuple[bytes, int]] | None = None,
) -> DevChain | None:
    """Start the demo chain and deploy once; ``providers`` (address -> (key, stake required))
    then stake through the vault with their own keys, up to what they need (idempotent). None
    (said why) when anvil is not installed."""
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
    for line in stake_providers(w3, deployment, providers or {}):
        say(line)
    # Past anvil's finality depth at once: the stakes are final (and mirrored into the ledger
    # at the watcher's first run) before the first epoch is judged for under-stake.
    w3.provider.make_request("anvil_mine", [hex(FINALITY_DEPTH + 1)])  # type: ignore[arg-type]
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
        insurance=accounts[1], treasury=accounts[2], unbonding_period_s=DEMO_UNBONDING_S,
        activation_delay_s=DEMO_ACTIVATION_DELAY_S,
    )  # fmt: skip
    fresh = deploy(w3, deployer, config)
    token = contract_at(w3, "SwarmToken", fresh.token)
    _ok(transact(w3, token.functions.mint(fresh.distributor, DISTRIBUTOR_FUNDING), deployer,
                 gas=PROVIDER_TX_GAS))  # fmt: skip
    path.write_text(fresh.to_json())
    return fresh


def _ok(receipt: Any) -> None:
    require_success(receipt, "dev chain transaction")


def stake_providers(
    w3: Web3, deployment: Deployment, providers: Mapping[str, tuple[bytes, int]]
) -> list[str]:
    """Each provider stakes through the vault with its own key up to what it needs plus
    ``EXTRA_STAKE`` (the deployer mints it the SWARM first); returns what was done."""
    token = contract_at(w3, "SwarmToken", deployment.token)
    vault = contract_at(w3, "StakingVault", deployment.vault)
    lines = []
    for address, (key, required) in sorted(providers.items()):
        account = Account.from_key(key)
        have = int(vault.functions.bondedOf(account.address).call())
        missing = required + EXTRA_STAKE - have
        if missing <= 0:
            continue
        w3.provider.make_request("anvil_setBalance", [account.address, hex(ROLE_BALANCE_WEI)])  # type: ignore[arg-type]
        _ok(transact(w3, token.functions.mint(account.address, missing), deployment.deployer,
                     gas=PROVIDER_TX_GAS))  # fmt: skip
        _ok(transact(w3, token.functions.approve(deployment.vault, missing), account,
                     gas=PROVIDER_TX_GAS))  # fmt: skip
        receipt = transact(w3, vault.functions.stake(missing, 0), account, gas=PROVIDER_TX_GAS)
        _ok(receipt)
        lines.append(f"chain: provider {address} staked {missing // 10**18} SWARM through the "
                     f"vault (tx 0x{bytes(receipt['transactionHash']).hex()})")  # fmt: skip
    return lines


def provider_step(
    w3: Web3, deployment: Deployment, address: str, key: bytes, rewards: Mapping[str, Any],
    *, unstaker: bool,
) -> list[str]:  # fmt: skip
    """One step of a simulated provider on the demo chain, with its own key: claim what its
    latest root on chain lets it (``rewards`` is its ``GET /v1/providers/{id}/rewards``), and,
    for the ``unstaker``, request an unstake of ``EXTRA_STAKE`` once, then withdraw it when its
    unbonding period has passed. Returns what was done."""
    account = Account.from_key(key)
    distributor = contract_at(w3, "RewardsDistributor", deployment.distributor)
    lines = []
    epoch, cumulative = rewards.get("epoch"), int(rewards.get("cumulative_base_units") or 0)
    claimed = int(distributor.functions.claimed(account.address).call())
    if epoch is not None and cumulative > claimed:
        root, _, activates_at, _, disabled = distributor.functions.epochRoot(epoch).call()
        now = int(w3.eth.get_block("latest")["timestamp"])
        if bytes(root) != bytes(32) and not disabled and activates_at <= now:
            tx = chain_tx.claim_tx(
                w3, deployment.distributor, epoch=epoch, account=account.address,
                cumulative_amount=cumulative, proof=rewards["proof"], sender=account,
            )  # fmt: skip
            receipt = chain_tx.wait(w3, chain_tx.send(w3, tx, account))
            _ok(receipt)
            lines.append(f"chain: provider {address} claimed "
                         f"{(cumulative - claimed) / 10**18:.6f} SWARM with the proof of epoch "
                         f"{epoch} (tx 0x{bytes(receipt['transactionHash']).hex()})")  # fmt: skip
    if unstaker:
        lines += _unstake_step(w3, deployment, account, address)
    return lines


def _unstake_step(w3: Web3, deployment: Deployment, account: Any, address: str) -> list[str]:
    vault = contract_at(w3, "StakingVault", deployment.vault)
    ids = vault.functions.unbondingEntryIds(account.address).call()
    if not ids:
        receipt = transact(w3, vault.functions.requestUnstake(EXTRA_STAKE), account,
                           gas=PROVIDER_TX_GAS)  # fmt: skip
        _ok(receipt)
        swarm = EXTRA_STAKE // 10**18
        return [f"chain: provider {address} requested an unstake of {swarm} SWARM "
                f"(withdrawable in {DEMO_UNBONDING_S} s)"]  # fmt: skip
    _, _, withdrawn, amount, release_at = vault.functions.unbondingEntry(ids[0]).call()
    now = int(w3.eth.get_block("latest")["timestamp"])
    if withdrawn or now < release_at:
        return []
    receipt = transact(w3, vault.functions.withdraw(ids[0]), account, gas=PROVIDER_TX_GAS)
    _ok(receipt)
    return [f"chain: provider {address} withdrew {amount // 10**18} SWARM after its unbonding "
            f"period (tx 0x{bytes(receipt['transactionHash']).hex()})"]  # fmt: skip
