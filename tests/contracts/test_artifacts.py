"""The committed artifacts are what solcjs produces from contracts/src, byte for byte."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger.chain.anvil import REPO_ROOT
from ledger.chain.artifacts import ARTIFACTS_DIR, SYSTEM_CONTRACTS, artifact_names, load_artifact


def test_committed_artifacts_match_a_recompile(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot recompile the contracts with solcjs")
    if not (REPO_ROOT / "node_modules" / "solc").is_dir():
        pytest.skip("node_modules/solc missing: run `npm ci` to recompile the contracts")
    subprocess.run(
        [node, str(REPO_ROOT / "scripts" / "compile_contracts.js"), "--out", str(tmp_path)],
        check=True, cwd=REPO_ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    fresh = sorted(p.name for p in tmp_path.glob("*.json"))
    committed = sorted(p.name for p in ARTIFACTS_DIR.glob("*.json"))
    assert fresh == committed
    for name in fresh:
        assert (tmp_path / name).read_bytes() == (ARTIFACTS_DIR / name).read_bytes(), name


def test_artifacts_are_pinned_and_complete() -> None:
    assert set(SYSTEM_CONTRACTS) <= set(artifact_names())
    for name in artifact_names():
        art = load_artifact(name)
        assert art.bytecode.startswith("0x") and len(art.deployed_bytecode) > 2
        # The CBOR metadata tail names the compiler: "solc" 0.8.37 (0x00 0x08 0x25).
        assert art.deployed_bytecode.endswith("64736f6c63430008250033"), name
        raw = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
        assert raw["compiler"]["evmVersion"] == "prague"
        assert raw["compiler"]["optimizer"] == {"enabled": True, "runs": 200}
        # EIP-170: deployable runtime code is at most 24,576 bytes.
        assert (len(art.deployed_bytecode) - 2) // 2 <= 24_576
