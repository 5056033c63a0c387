"""The root on chain (issue 11, point 7): `verify bundle FILE --rpc URL --distributor 0x...` reads
`epochRoot(epoch)` from a RewardsDistributor on a fresh anvil and compares it with the bundle's
root. Settlement jobs are not built yet, so the test posts the root itself (post_root_tx)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from ledger.chain.anvil import Anvil, anvil_binary
from ledger.chain.contracts import post_root_tx, send, wait
from ledger.chain.deploy import DeployConfig, Deployment, deploy
from ledger.epochs.bundle import build_bundle, bundle_bytes
from ledger.kit.db import make_engine
from ledger.kit.db import snapshot as db_snapshot
from tests.conftest import APP_ROLE
from tests.integration.test_epoch_bundle import NOWHERE, QUICK, close_series, run


@pytest.fixture(scope="module")
def bundle_file(shared_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    engine = make_engine(shared_db_url, app_role=APP_ROLE, pool_size=2)
    try:
        last = close_series(engine, QUICK, 4)  # the 4th close is the first with a leaf
        with db_snapshot(engine) as conn:
            bundle = build_bundle(conn, last)
    finally:
        engine.dispose()
    assert bundle["root"] != "0x" + "00" * 32
    path = tmp_path_factory.mktemp("bundle") / "epoch.bundle.json"
    path.write_bytes(bundle_bytes(bundle))
    return path


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Web3, Deployment]]:
    try:
        anvil_binary()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        a = w3.eth.accounts
        config = DeployConfig(root_poster=a[1], slasher=a[2], guardian=a[3], insurance=a[4],
                              treasury=a[5], timelock_delay_s=60)  # fmt: skip
        yield w3, deploy(w3, a[0], config)


def post(w3: Web3, d: Deployment, epoch: int, root: bytes, inputs: str, params: str) -> None:
    poster = w3.eth.accounts[1]
    tx = post_root_tx(w3, d.distributor, epoch=epoch, root=root, inputs_digest=inputs,
                      params_hash=params, calculator_version=1, sender=poster)  # fmt: skip
    assert wait(w3, send(w3, tx, poster))["status"] == 1


def snapshot(w3: Web3) -> str:
    return str(w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]


def revert(w3: Web3, snap: str) -> None:
    assert w3.provider.make_request("evm_revert", [snap])["result"] is True  # type: ignore[arg-type]


def verify(path: Path, w3: Web3, d: Deployment) -> tuple[int, str, str]:
    url = w3.provider.endpoint_uri  # type: ignore[attr-defined]
    res = run(["verify", "bundle", str(path), "--rpc", url, "--distributor", d.distributor],
              NOWHERE)  # fmt: skip
    return res.returncode, res.stdout, res.stderr


def test_the_root_on_chain_matches_and_a_tampered_one_fails(
    bundle_file: Path, chain: tuple[Web3, Deployment]
) -> None:
    import json

    w3, d = chain
    b = json.loads(bundle_file.read_bytes())
    epoch, root = b["epoch"], bytes.fromhex(b["root"][2:])

    code, out, err = verify(bundle_file, w3, d)  # nothing posted yet
    assert code == 1 and err.startswith(f"FAILED: root_on_chain: no root posted for epoch {epoch}")

    snap = snapshot(w3)
    post(w3, d, epoch, root, b["inputs_digest"], b["params_hash"])
    code, out, err = verify(bundle_file, w3, d)
    assert code == 0, out + err
    assert f"ok   root_on_chain: 0x{root.hex()} matches" in out.splitlines()
    assert f"ok   provenance_on_chain: inputs digest {b['inputs_digest']}" in out

    # The same epoch with another root on chain (a fresh chain state: roots cannot be reposted).
    revert(w3, snap)
    snap = snapshot(w3)
    tampered = root[:-1] + bytes([root[-1] ^ 1])
    post(w3, d, epoch, tampered, b["inputs_digest"], b["params_hash"])
    code, out, err = verify(bundle_file, w3, d)
    assert code == 1
    assert err.strip() == (
        f"FAILED: root_on_chain: the distributor holds 0x{tampered.hex()}, the bundle's root is "
        f"0x{root.hex()}"
    )

    # The right root, posted beside another inputs digest: the provenance check fails.
    revert(w3, snap)
    post(w3, d, epoch, root, "ee" * 32, b["params_hash"])
    code, out, err = verify(bundle_file, w3, d)
    assert code == 1 and f"ok   root_on_chain: 0x{root.hex()} matches" in out
    assert err.startswith(
        f"FAILED: provenance_on_chain: posted beside the root: inputs digest {'ee' * 32}"
    )


def test_an_unreachable_rpc_is_one_line_and_exit_3(bundle_file: Path) -> None:
    res = run(["verify", "bundle", str(bundle_file), "--rpc", "http://127.0.0.1:1",
               "--distributor", "0x" + "11" * 20], NOWHERE)  # fmt: skip
    assert res.returncode == 3, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: cannot read epochRoot(") and "Traceback" not in res.stderr
