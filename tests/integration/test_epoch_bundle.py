"""Anyone can check a root (issue 11, point 7): `export epoch N` writes a self-contained bundle of
a closed epoch; `verify bundle FILE` recomputes the rewards and the root from it alone, with no
database reachable, and a change to any part of the bundle fails the check that covers it."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from ledger.epochs import service as epochs
from ledger.epochs.bundle import (
    BUNDLE_FORMAT,
    ChainProvenance,
    build_bundle,
    bundle_bytes,
    parse_bundle,
    provenance_digest,
    verify_bundle,
)
from ledger.kit.db import make_engine, snapshot, transaction
from ledger.params.domain import ParameterSet, demo_params
from ledger.params.domain.epochs import epoch_settles_at
from ledger.rewards.repository import RewardsRepository
from tests.conftest import APP_ROLE
from tests.integration.epoch_helpers import at, bond, future_epoch, send_epoch
from tests.integration.fleet import make_fleet

CLI = [sys.executable, "-m", "ledger.cli"]
P = demo_params()
#: Rewards mature three epochs after their own (demo epochs are 60 s), so a few closes give an
#: epoch with previous leaves and amounts maturing at its close.
QUICK = dataclasses.replace(
    P,
    slashing=dataclasses.replace(P.slashing, appeal_window_s=60),
    epoch=dataclasses.replace(P.epoch, reward_maturity_s=180),
)
#: No database, no Redis, no data directory: what a verifier outside the operator has.
BUNDLE_KEYS = (
    "format", "epoch", "calculator_version", "params_hash", "params", "inputs_digest",
    "previous_scale_ppm", "network", "nodes", "results", "previous", "matured", "root",
    "leaf_count", "provenance_digest",
)  # fmt: skip
NOWHERE = {
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    "REDIS_URL": "redis://127.0.0.1:1/0",
}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "SWARM_DATA_DIR"}}  # fmt: skip
    return subprocess.run([*CLI, *args], env={**base, **env}, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def close_series(engine: Engine, params: ParameterSet, count: int) -> int:
    """Two providers (three nodes) working through ``count`` closed epochs; the last epoch."""
    nodes = make_fleet(engine, 2, types=("gaming_pc", "workstation"), params=params)
    nodes += make_fleet(engine, 1, types=("edge_location",), params=params, region="af-south")
    first = future_epoch(params)
    bond(engine, nodes, at(first * 60 - 1))
    for e in range(first, first + count):
        # Vary the work per epoch so the amounts differ from epoch to epoch.
        send_epoch(engine, nodes, e, params,
                   shape=lambda n, k, e=e: None if (k + e) % 4 == 0 and n is nodes[0] else
                   {"jobs_failed": (k + e) % 3, "gpu_util_ppm": 300_000 + 70_000 * k})  # fmt: skip
        with transaction(engine) as conn:
            epochs.close_epoch(conn, e, now=at(epoch_settles_at(e, params)), params=params)
    return first + count - 1


@dataclasses.dataclass
class Closed:
    db_url: str
    engine: Engine
    epoch: int
    bundle: dict[str, Any]


@pytest.fixture(scope="module")
def closed(shared_db_url: str) -> Iterator[Closed]:
    engine = make_engine(shared_db_url, app_role=APP_ROLE, pool_size=2)
    last = close_series(engine, QUICK, 5)
    with snapshot(engine) as conn:
        bundle = build_bundle(conn, last)
    yield Closed(shared_db_url, engine, last, bundle)
    engine.dispose()


def failed(bundle: dict[str, Any], chain_root: bytes | None = None) -> list[str]:
    return [c.name for c in verify_bundle(bundle, chain_root=chain_root) if c.ok is False]


def test_the_bundle_holds_the_closed_epoch_and_verifies(closed: Closed) -> None:
    b = closed.bundle
    assert b["format"] == BUNDLE_FORMAT and b["epoch"] == closed.epoch
    with closed.engine.connect() as conn:
        repo = RewardsRepository(conn)
        row = repo.get_epoch(closed.epoch)
        stored_leaves = repo.leaves(closed.epoch)
        assert row is not None and epochs.verify_epoch(conn, closed.epoch).ok
    assert b["inputs_digest"] == row.inputs_digest and b["params_hash"] == row.params_hash
    assert b["root"] == "0x" + row.merkle_root.hex() and row.merkle_root != bytes(32)
    assert ParameterSet.from_dict(b["params"]) == QUICK
    assert len(b["nodes"]) == 3 and b["previous"]["epoch"] == closed.epoch - 1
    # Something had matured before (previous leaves) and something matures at this close.
    assert b["previous"]["leaves"] and b["matured"]
    # previous + matured are exactly the leaves the close stored for the epoch.
    previous, matured = b["previous"]["leaves"], b["matured"]
    summed = {p: int(previous.get(p, 0)) + int(matured.get(p, 0)) for p in {*previous, *matured}}
    assert summed == {p: cumulative for p, (_, cumulative, _) in stored_leaves.items()}
    assert {p: int(a) for p, a in matured.items()} == {
        p: amount for p, (amount, _, _) in stored_leaves.items() if amount
    }
    checks = verify_bundle(b, chain_root=None)
    assert [c.name for c in checks if c.ok is False] == []
    assert [c.name for c in checks if c.ok is None] == ["root_on_chain"]
    assert len(checks) == 13
    # The canonical form parses back to the same bundle.
    assert parse_bundle(bundle_bytes(b)) == b


def test_export_then_verify_with_no_database_reachable(
    closed: Closed, redis_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.json"
    res = run(["export", "epoch", str(closed.epoch), "--out", str(out)],
              {"DATABASE_URL": closed.db_url, "REDIS_URL": redis_url})  # fmt: skip
    assert res.returncode == 0, res.stderr
    raw = out.read_bytes()
    assert f"bundle digest sha256:{hashlib.sha256(raw).hexdigest()}" in res.stdout
    assert f"inputs digest {closed.bundle['inputs_digest']}" in res.stdout
    assert raw == bundle_bytes(closed.bundle)  # canonical, and the same as built in-process

    data_dir = tmp_path / "no-ledger-here"
    res = run(["verify", "bundle", str(out)], {**NOWHERE, "SWARM_DATA_DIR": str(data_dir)})
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith(f"bundle {out}: epoch {closed.epoch}, bundle digest sha256:")
    assert "--   root_on_chain: not checked (no --rpc)" in lines
    assert sum(line.startswith("ok   ") for line in lines) == 13  # canonical + 12
    assert lines[-1] == f"ok: epoch {closed.epoch}: 13 checks passed"
    assert "database" not in res.stderr and not data_dir.exists()

    # The same file with one matured amount changed: exit 1, naming the first mismatch.
    bad = copy.deepcopy(closed.bundle)
    provider = sorted(bad["matured"])[0]
    bad["matured"][provider] = str(int(bad["matured"][provider]) + 1)
    out.write_bytes(bundle_bytes(bad))
    res = run(["verify", "bundle", str(out)], NOWHERE)
    assert res.returncode == 1
    assert res.stderr.strip().startswith("FAILED: root: previous + matured build 0x"), res.stderr
    assert "FAIL root:" in res.stdout

    # Not canonical (pretty-printed): the digest would be ambiguous, so it fails too.
    out.write_text(json.dumps(closed.bundle, indent=2))
    res = run(["verify", "bundle", str(out)], NOWHERE)
    assert res.returncode == 1 and res.stderr.startswith("FAILED: canonical:"), res.stderr

    out.write_text("{not json")
    res = run(["verify", "bundle", str(out)], NOWHERE)
    assert res.returncode == 1 and res.stderr.startswith("FAILED: format: not JSON"), res.stderr


def test_exporting_an_epoch_that_is_not_closed_is_refused(closed: Closed, redis_url: str) -> None:
    res = run(["export", "epoch", str(closed.epoch + 1)],
              {"DATABASE_URL": closed.db_url, "REDIS_URL": redis_url})  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: epoch: epoch {closed.epoch + 1} is not closed [epoch_not_closed]"
    )


def _node(b: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = b["nodes"][0]
    return node


def _first(mapping: dict[str, str]) -> str:
    return sorted(mapping)[0]


def _bump(mapping: dict[str, str], by: int = 1) -> None:
    key = _first(mapping)
    mapping[key] = str(int(mapping[key]) + by)


def _flip_root(b: dict[str, Any]) -> None:
    b["root"] = b["root"][:-1] + ("0" if b["root"][-1] != "0" else "1")


def _shrink_leaf(b: dict[str, Any]) -> None:
    provider = _first(b["previous"]["leaves"])
    b["matured"][provider] = str(-1 - int(b["matured"].get(provider, "0")))


def _rollup(b: dict[str, Any]) -> dict[str, Any]:
    rollup: dict[str, Any] = _node(b)["rollup"]
    return rollup


def _add(obj: dict[str, Any], key: str, by: int = 1) -> None:
    obj[key] += by


T = Callable[[dict[str, Any]], object]
TAMPERS: dict[str, tuple[T, str]] = {
    "a node's rollup": (lambda b: _add(_rollup(b), "jobs_failed"), "inputs_digest"),
    "a node's histogram": (
        lambda b: _rollup(b)["latency_histogram"][0].__setitem__(1, 99), "inputs_digest"),
    "a node's standing": (lambda b: _node(b).update(standing_ppm=500_000), "inputs_digest"),
    "a node dropped": (lambda b: b["nodes"].pop(), "inputs_digest"),
    "the network's price": (
        lambda b: b["network"].update(current_price=2_000_000, reference_price=1_000_000),
        "inputs_digest"),
    # Not in the inputs digest, but the utilization is measured from it.
    "accepted heartbeats": (
        lambda b: _add(_rollup(b), "heartbeats_accepted"), "network_conditions"),
    "the parameter set": (
        lambda b: _add(b["params"]["pool"], "base_emission_per_epoch_base_units"),
        "params_hash"),
    "the params hash": (lambda b: b.update(params_hash="0" * 64), "params_hash"),
    "the calculator": (
        lambda b: b.update(calculator_version="rewards-v0"), "calculator_version"),
    "the previous scale": (lambda b: b.update(previous_scale_ppm=500_000), "pool"),
    "a receipt's amount": (lambda b: _bump(b["results"]["node_amounts"]), "node_amounts"),
    "a provider's reward transfer": (
        lambda b: _bump(b["results"]["provider_totals"]), "provider_totals"),
    "a previous leaf": (lambda b: _bump(b["previous"]["leaves"]), "previous_root"),
    "a previous leaf dropped": (
        lambda b: b["previous"]["leaves"].pop(_first(b["previous"]["leaves"])),
        "previous_root"),
    "a matured amount": (lambda b: _bump(b["matured"]), "root"),
    "a leaf that would decrease": (_shrink_leaf, "leaves_never_decrease"),
    "the root": (_flip_root, "root"),
    "the leaf count": (lambda b: _add(b, "leaf_count"), "root"),
    "the provenance digest": (
        lambda b: b.update(provenance_digest="f" * 64), "provenance_digest"),
    "the format version": (lambda b: b.update(format="swarm-epoch-bundle/v0"), "format"),
    "an unknown field": (lambda b: b.update(extra=1), "format"),
}  # fmt: skip


@pytest.mark.parametrize("part", sorted(TAMPERS))
def test_tampering_with_a_part_fails_the_check_that_covers_it(closed: Closed, part: str) -> None:
    tamper, check = TAMPERS[part]
    bundle = copy.deepcopy(closed.bundle)
    assert failed(bundle) == []
    tamper(bundle)
    names = failed(bundle)
    assert names and names[0] == check, names


def test_the_root_and_provenance_on_chain_are_compared_when_given(closed: Closed) -> None:
    b = closed.bundle
    root = bytes.fromhex(b["root"][2:])
    posted = ChainProvenance(b["inputs_digest"], b["params_hash"], 1)
    checks = verify_bundle(b, chain_root=root, chain_provenance=posted)
    assert [(c.name, c.ok) for c in checks][-2:] == [
        ("root_on_chain", True),
        ("provenance_on_chain", True),
    ]
    assert failed(b, chain_root=bytes(32)) == ["root_on_chain"]  # nothing posted
    other = bytes(31) + b"\x01"
    assert failed(b, chain_root=other) == ["root_on_chain", "provenance_on_chain"]
    assert failed(b, chain_root=root) == ["provenance_on_chain"]  # no RootPosted event
    for wrong in (posted._replace(inputs_digest="0" * 64), posted._replace(params_hash="1" * 64)):
        names = [c.name for c in verify_bundle(b, chain_root=root, chain_provenance=wrong)
                 if c.ok is False]  # fmt: skip
        assert names == ["provenance_on_chain"]


def test_the_provenance_formula_is_the_service_s() -> None:
    args = (b"\x07" * 32, "ab" * 32, "cd" * 32, "rewards-v1")
    assert provenance_digest(*args) == epochs.provenance_digest(*args)


def test_verifying_imports_no_database_code() -> None:
    code = (
        "import sys; import ledger.epochs.bundle as b; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'psycopg', 'redis', 'web3', 'celery')]; print(bad)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


@pytest.mark.parametrize("key", sorted(k for k in BUNDLE_KEYS))
def test_a_malformed_part_fails_a_check_and_never_crashes_verify(closed: Closed, key: str) -> None:
    for wrong in (None, "x", 1.5, [], {}, -1):
        bundle = copy.deepcopy(closed.bundle)
        bundle[key] = wrong
        if bundle == closed.bundle:  # e.g. "previous": None is a valid value of its own
            continue
        assert failed(bundle), (key, wrong)
