"""The demo's chain (issue 11 point 8): anvil from npm, contracts deployed once and reused by a
second run, role keys in encrypted keystores; a chain that lost its state is deployed again
with new keys (their nonces start at 0 like the new chain's)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from web3 import Web3

from ledger.chain.anvil import anvil_binary
from ledger.kit.config import Settings
from ledger.settlement import devchain
from ledger.settlement.config import load_chain


@pytest.fixture(autouse=True)
def _needs_anvil() -> None:
    try:
        anvil_binary()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def test_deployed_once_reused_by_a_second_run_and_redeployed_when_the_state_is_lost(
    tmp_path: Path,
) -> None:
    said: list[str] = []
    first = devchain.start(tmp_path, said.append)
    assert first is not None
    try:
        assert "deployed" in first.note
        settings = Settings(
            CHAIN_RPC_URL=first.env["CHAIN_RPC_URL"], SWARM_DATA_DIR=tmp_path,
            SWARM_CHAIN_DEPLOYMENT=first.env["SWARM_CHAIN_DEPLOYMENT"],
            SWARM_KEYSTORE_PASSWORD_FILE=first.env["SWARM_KEYSTORE_PASSWORD_FILE"],
        )  # fmt: skip
        chain = load_chain(settings)
        assert chain is not None and chain.distributor == first.deployment.distributor
        keys = (chain.root_poster.address, chain.slasher.address)
        assert (tmp_path / "chain" / "keystore-password").stat().st_mode & 0o077 == 0
        assert first.env["SWARM_KEYSTORE_PASSWORD_FILE"] not in str(chain)  # never printed
    finally:
        first.stop()  # anvil writes its state

    second = devchain.start(tmp_path, said.append)
    assert second is not None
    try:
        assert second.note.startswith("contracts reused")
        assert second.deployment == first.deployment
        w3 = Web3(Web3.HTTPProvider(second.anvil.url))
        assert w3.eth.get_code(Web3.to_checksum_address(second.deployment.distributor))
        # Killed before it could write its state: the next start finds no contracts.
        assert second.anvil._process is not None
        os.kill(second.anvil._process.pid, signal.SIGKILL)
        second.anvil._process.wait()
    finally:
        second.stop()
    (tmp_path / "chain" / "anvil-state.json").unlink(missing_ok=True)

    third = devchain.start(tmp_path, said.append)
    assert third is not None
    try:
        assert "state was lost" in third.note
        again = load_chain(settings.model_copy(
            update={"chain_rpc_url": third.env["CHAIN_RPC_URL"]}))  # fmt: skip
        assert again is not None
        assert (again.root_poster.address, again.slasher.address) != keys
    finally:
        third.stop()
