"""The settlement jobs' chain, from the deployment's settings (None without CHAIN_RPC_URL)."""

from __future__ import annotations

from pathlib import Path

from web3 import Web3

from ledger.chain.deploy import Deployment
from ledger.kit.config import Settings
from ledger.settlement.domain import FeePolicy
from ledger.settlement.keys import load_keystore, passphrase
from ledger.settlement.service import Chain

GWEI = 10**9
#: Seconds an RPC call may take before the job gives up on it (the outcome is then unknown and
#: resolved from the chain at the next run, never by a resend of something new).
RPC_TIMEOUT_S = 10


def chain_dir(settings: Settings) -> Path:
    return settings.data_dir / "chain"


def deployment_path(settings: Settings) -> Path:
    return settings.chain_deployment or chain_dir(settings) / "deployment.json"


def load_chain(settings: Settings) -> Chain | None:
    """The node, the deployment's contracts and the role keys; None when no chain is set."""
    if not settings.chain_rpc_url:
        return None
    deployment = Deployment.from_json(deployment_path(settings).read_text())
    password = passphrase(settings)
    keys = chain_dir(settings)
    root_poster = load_keystore(
        settings.root_poster_keystore or keys / "root_poster.json", password
    )
    slasher = load_keystore(settings.slasher_keystore or keys / "slasher.json", password)
    w3 = Web3(Web3.HTTPProvider(settings.chain_rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S}))
    return Chain(
        w3=w3, distributor=deployment.distributor, vault=deployment.vault,
        root_poster=root_poster, slasher=slasher,
        fees=FeePolicy(settings.fee_cap_gwei * GWEI, settings.priority_fee_gwei * GWEI),
        confirmations=settings.confirmations, start_block=deployment.block_number,
    )  # fmt: skip
