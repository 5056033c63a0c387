"""Epoch bundles: everything needed to check a closed epoch's root, in one canonical JSON file.

``build_bundle`` (``swarm-ledger export epoch N``) reads a closed epoch from the database;
``verify_bundle`` (``swarm-ledger verify bundle FILE``) recomputes what it can from the bundle
alone. Verification is pure: this module imports only domain packages and the kit at the top
(the database readers are imported inside :func:`build_bundle`), so a verifier needs no
database, no configuration and no network (docs/epochs.md, "Checking a root from a bundle").

Format ``swarm-epoch-bundle/v1``: one JSON object, serialised canonically (sorted keys, no
whitespace, ASCII, no floats); amounts are decimal strings, hashes lower-case hex, roots
``0x``-prefixed hex. The bundle digest is the SHA-256 of the file's bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ledger.params.domain import ParameterSet
from ledger.rewards.domain import (
    CALCULATOR_VERSION,
    NetworkConditions,
    NodeRewardInput,
    compute_epoch,
    inputs_digest,
    measured_conditions,
    provenance_digest,
)
from ledger.rewards.domain.merkle import build_tree
from ledger.telemetry.domain import NodeEpochRollup

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = [
    "BUNDLE_FORMAT",
    "BundleError",
    "ChainProvenance",
    "Check",
    "build_bundle",
    "bundle_bytes",
    "bundle_digest",
    "parse_bundle",
    "provenance_digest",
    "verify_bundle",
]

BUNDLE_FORMAT: Final[str] = "swarm-epoch-bundle/v1"
_ZERO_ROOT: Final[bytes] = bytes(32)
_NODE_FIELDS: Final[tuple[str, ...]] = (
    "node_id", "provider_id", "provider_type", "region", "capacity_units_ppm",
    "commitment_tier", "standing_ppm", "jailed", "tombstoned", "under_staked", "rollup",
)  # fmt: skip
_ROLLUP_FIELDS: Final[tuple[str, ...]] = tuple(f.name for f in fields(NodeEpochRollup))
_NETWORK_FIELDS: Final[tuple[str, ...]] = (
    "utilization_ppm", "active_nodes", "reference_price", "current_price",
    "resource_demand_supply_ppm",
)  # fmt: skip
_TOP_FIELDS: Final[tuple[str, ...]] = (
    "format", "epoch", "calculator_version", "params_hash", "params", "inputs_digest",
    "previous_scale_ppm", "network", "nodes", "results", "previous", "matured", "root",
    "leaf_count", "provenance_digest",
)  # fmt: skip
_RESULT_FIELDS: Final[tuple[str, ...]] = (
    "pool_base_units", "distributed_base_units", "undistributed_base_units", "scale_ppm",
    "eligible_nodes", "node_amounts", "provider_totals",
)  # fmt: skip
_PREVIOUS_FIELDS: Final[tuple[str, ...]] = ("epoch", "root", "leaves")


class BundleError(ValueError):
    """A bundle that cannot be read (not JSON, a float, a missing or unknown field)."""


class Check(NamedTuple):
    """One verification step: ``ok`` is None when it was not run (e.g. no RPC given)."""

    name: str
    ok: bool | None
    detail: str


# ---------------------------------------------------------------- canonical form


def _canonical(value: object) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def bundle_bytes(bundle: Mapping[str, Any]) -> bytes:
    """The canonical file content of ``bundle`` (what export writes, what the digest hashes)."""
    return _canonical(bundle).encode("ascii")


def bundle_digest(raw: bytes) -> str:
    """The bundle digest: SHA-256 hex of the file's bytes."""
    return hashlib.sha256(raw).hexdigest()


def _refuse_float(text: str) -> object:
    raise BundleError(f"a bundle holds no floats: {text}")


def parse_bundle(raw: bytes) -> dict[str, Any]:
    """The bundle object of a file's bytes; :class:`BundleError` if it is not one."""
    try:
        data = json.loads(raw, parse_float=_refuse_float, parse_constant=_refuse_float)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError("a bundle is a JSON object")
    return data


# ---------------------------------------------------------------- export


def _node_json(n: NodeRewardInput) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(n, name) for name in _NODE_FIELDS if name != "rollup"}
    rollup: dict[str, Any] = {name: getattr(n.rollup, name) for name in _ROLLUP_FIELDS}
    rollup["latency_histogram"] = sorted([ms, c] for ms, c in n.rollup.latency_histogram.items())
    out["rollup"] = rollup
    return out


def _network_json(network: NetworkConditions) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(network, name) for name in _NETWORK_FIELDS}
    out["resource_demand_supply_ppm"] = dict(network.resource_demand_supply_ppm)
    return out


def _amounts(values: Mapping[str, int]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(values.items())}


def build_bundle(conn: Connection, epoch: int) -> dict[str, Any]:
    """The bundle of closed ``epoch``, read in the caller's (snapshot) transaction.

    The inputs are gathered again as of the epoch's end (``gather_inputs``, as the close did);
    the export refuses (``bundle_inputs_differ``) when they no longer hash to the epoch's stored
    inputs digest, rather than write a bundle that cannot match the root's provenance.
    """
    from ledger.epochs import keepers
    from ledger.epochs.service import gather_stored_inputs
    from ledger.kit.errors import NotFound

    repo = keepers.RewardsRepository(conn)
    row = repo.get_epoch(epoch)
    if row is None:
        raise NotFound(f"epoch {epoch} is not closed", code="epoch_not_closed", field="epoch")
    params = keepers.params_of_hash(conn, row.params_hash)
    inputs, network = gather_stored_inputs(conn, row, params, code="bundle_inputs_differ")
    prev = repo.get_epoch(epoch - 1)
    previous: dict[str, Any] | None = None
    if prev is not None:
        previous = {
            "epoch": prev.epoch,
            "root": "0x" + prev.merkle_root.hex(),
            "leaves": _amounts(repo.cumulative_before(epoch)),
        }
    # What matured at this close, from the ledger's REWARD_MATURED transfers of the epoch.
    through = repo.claimable_through(epoch)
    before = repo.claimable_through(epoch - 1)
    matured = {p: c - before.get(p, 0) for p, c in through.items() if c != before.get(p, 0)}
    booked = repo.reward_totals(epoch)
    return {
        "format": BUNDLE_FORMAT,
        "epoch": epoch,
        "calculator_version": row.calculator_version,
        "params_hash": row.params_hash,
        "params": params.to_dict(),
        "inputs_digest": row.inputs_digest,
        "previous_scale_ppm": prev.scale_ppm if prev is not None else None,
        "network": _network_json(network),
        "nodes": [_node_json(n) for n in sorted(inputs, key=lambda n: n.node_id)],
        "results": {
            "pool_base_units": str(row.pool_base_units),
            "distributed_base_units": str(row.distributed_base_units),
            "undistributed_base_units": str(row.undistributed_base_units),
            "scale_ppm": row.scale_ppm,
            "eligible_nodes": row.eligible_nodes,
            "node_amounts": _amounts({n: a for n, (a, _) in repo.receipts(epoch).items()}),
            "provider_totals": _amounts({p: t for p, (t, _) in booked.items() if t}),
        },
        "previous": previous,
        "matured": _amounts(matured),
        "root": "0x" + row.merkle_root.hex(),
        "leaf_count": row.leaf_count,
        "provenance_digest": row.provenance_digest,
    }


# ---------------------------------------------------------------- reading the parts


def _obj(value: object, what: str, keys: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleError(f"{what}: must be an object")
    missing = [k for k in keys if k not in value]
    unknown = sorted(k for k in value if k not in keys)
    if missing or unknown:
        raise BundleError(f"{what}: missing {missing}, unknown {unknown}")
    return value


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BundleError(f"{what}: must be an integer")
    return value


def _amount(value: object, what: str) -> int:
    if not isinstance(value, str) or not value.isdigit() or not value.isascii():
        raise BundleError(f"{what}: must be a decimal string of base units")
    return int(value)


def _amount_map(value: object, what: str, *, signed: bool = False) -> dict[str, int]:
    if not isinstance(value, dict):
        raise BundleError(f"{what}: must be an object")
    out = {}
    for k, v in value.items():
        negative = signed and isinstance(v, str) and v.startswith("-")
        amount = _amount(v[1:] if negative else v, f"{what}[{k}]")
        out[str(k)] = -amount if negative else amount
    return out


def _root(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise BundleError(f"{what}: must be 0x and 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise BundleError(f"{what}: must be 0x and 64 hex digits") from None


def _rollup(value: object, what: str) -> NodeEpochRollup:
    raw = _obj(value, what, _ROLLUP_FIELDS)
    kwargs: dict[str, Any] = {}
    for name in _ROLLUP_FIELDS:
        v = raw[name]
        if name == "node_id":
            if not isinstance(v, str):
                raise BundleError(f"{what}.node_id: must be a string")
            kwargs[name] = v
        elif name == "latency_p50_ms":
            kwargs[name] = None if v is None else _int(v, f"{what}.{name}")
        elif name == "latency_histogram":
            if not isinstance(v, list) or not all(isinstance(p, list) and len(p) == 2 for p in v):
                raise BundleError(f"{what}.latency_histogram: must be [[ms, count], ...]")
            where = f"{what}.latency_histogram"
            hist = {_int(ms, where): _int(c, where) for ms, c in v}
            if len(hist) != len(v):
                raise BundleError(f"{what}.latency_histogram: a latency appears twice")
            kwargs[name] = hist
        else:
            kwargs[name] = _int(v, f"{what}.{name}")
    return NodeEpochRollup(**kwargs)


def _nodes(value: object) -> list[NodeRewardInput]:
    if not isinstance(value, list):
        raise BundleError("nodes: must be a list")
    out = []
    for i, item in enumerate(value):
        raw = _obj(item, f"nodes[{i}]", _NODE_FIELDS)
        kwargs = {k: raw[k] for k in _NODE_FIELDS if k != "rollup"}
        kwargs["rollup"] = _rollup(raw["rollup"], f"nodes[{i}].rollup")
        out.append(NodeRewardInput(**kwargs))  # it checks every field's type and range
    return out


def _network(value: object) -> NetworkConditions:
    raw = _obj(value, "network", _NETWORK_FIELDS)
    return NetworkConditions(**raw)


# ---------------------------------------------------------------- verification


class _Checks:
    """The checks run so far; each passes or fails with the detail that says why."""

    def __init__(self) -> None:
        self.done: list[Check] = []

    def add(self, name: str, ok: bool, good: str, bad: str) -> None:
        self.done.append(Check(name, ok, good if ok else bad))

    def fail(self, name: str, detail: str) -> None:
        self.done.append(Check(name, False, detail))

    def skip(self, name: str, detail: str) -> None:
        self.done.append(Check(name, None, detail))


def _differences(name: str, got: Mapping[str, int], want: Mapping[str, int]) -> list[str]:
    out = []
    for key in sorted(set(got) | set(want)):
        if got.get(key) != want.get(key):
            out.append(f"{name} {key}: recomputed {got.get(key)}, bundle says {want.get(key)}")
    return out


def _tree_root(leaves: Mapping[str, int]) -> bytes:
    values = sorted((p, c) for p, c in leaves.items() if c > 0)
    return build_tree(values).root if values else _ZERO_ROOT


class ChainProvenance(NamedTuple):
    """What the distributor's ``RootPosted`` event of the epoch carries beside the root."""

    inputs_digest: str  # hex, no 0x
    params_hash: str
    calculator_version: int


def verify_bundle(
    bundle: Mapping[str, Any],
    *,
    chain_root: bytes | None,
    chain_provenance: ChainProvenance | None = None,
) -> list[Check]:
    """Every check of a bundle, in order; a failed check names what differs.

    ``chain_root`` is the root the distributor holds for the epoch (32 zero bytes: none
    posted), or None when the chain was not consulted; ``chain_provenance`` the digests its
    ``RootPosted`` event carries (None: no event found, checked only with ``chain_root``).
    Never raises on a malformed bundle: the part that cannot be read fails its check and the
    checks that need it fail with it.
    """
    checks = _Checks()
    try:
        top = _obj(bundle, "bundle", _TOP_FIELDS)
        if top["format"] != BUNDLE_FORMAT:
            raise BundleError(f"format {top['format']!r}, this verifier reads {BUNDLE_FORMAT}")
        epoch = _int(top["epoch"], "epoch")
        results = _obj(top["results"], "results", _RESULT_FIELDS)
        stored_root = _root(top["root"], "root")
        # Signed on reading, so that a negative amount is caught by the leaf check, not here.
        matured = _amount_map(top["matured"], "matured", signed=True)
    except BundleError as exc:
        checks.fail("format", str(exc))
        return checks.done
    checks.add("format", True, f"{BUNDLE_FORMAT}, epoch {epoch}", "")
    params = _check_params(checks, top)
    calculator = top["calculator_version"]
    checks.add(
        "calculator_version",
        calculator == CALCULATOR_VERSION,
        f"{calculator}",
        f"the bundle is {calculator!r}, this verifier computes {CALCULATOR_VERSION}",
    )
    nodes: list[NodeRewardInput] | None = None
    network: NetworkConditions | None = None
    try:
        nodes, network = _nodes(top["nodes"]), _network(top["network"])
    except (BundleError, ValueError, TypeError) as exc:
        checks.fail("inputs_digest", f"the inputs cannot be read: {exc}")
    if nodes is not None and network is not None:
        digest = inputs_digest(nodes, network)
        checks.add(
            "inputs_digest",
            digest == top["inputs_digest"],
            f"{digest} over {len(nodes)} nodes",
            f"recomputed {digest}, the epoch stored {top['inputs_digest']}",
        )
    _check_rewards(checks, top, results, epoch, nodes, network, params)
    _check_leaves(checks, top, matured, stored_root)
    _check_chain(checks, top, stored_root, chain_root, chain_provenance)
    return checks.done


def _check_params(checks: _Checks, top: Mapping[str, Any]) -> ParameterSet | None:
    """The set's canonical serialisation hashes to the epoch's ``params_hash``."""
    params_hash = top["params_hash"]
    try:
        if not isinstance(top["params"], dict):
            raise BundleError("params: must be an object")
        text_hash = hashlib.sha256(_canonical(top["params"]).encode("ascii")).hexdigest()
        params = ParameterSet.from_dict(top["params"])
    except (BundleError, ValueError) as exc:
        checks.fail("params_hash", f"the parameter set cannot be read: {exc}")
        return None
    checks.add(
        "params_hash",
        text_hash == params_hash and params.content_hash() == params_hash,
        f"{params_hash} (version {params.version})",
        f"the parameter set hashes to {text_hash}, the epoch was closed under {params_hash}",
    )
    return params


def _check_rewards(
    checks: _Checks,
    top: Mapping[str, Any],
    results: Mapping[str, Any],
    epoch: int,
    nodes: list[NodeRewardInput] | None,
    network: NetworkConditions | None,
    params: ParameterSet | None,
) -> None:
    """The network figures measured from the nodes, then compute_epoch against the receipts."""
    names = ("network_conditions", "pool", "node_amounts", "provider_totals")
    if nodes is None or network is None or params is None:
        for name in names:
            checks.fail(name, "not recomputed: the inputs or the parameter set cannot be read")
        return
    try:
        _check_network(checks, nodes, network, params)
    except Exception as exc:  # inputs the calculator's own assertions refuse
        checks.fail("network_conditions", f"cannot be measured from the nodes: {exc!r}")
    try:
        prev_scale = top["previous_scale_ppm"]
        if prev_scale is not None:
            _int(prev_scale, "previous_scale_ppm")
        result = compute_epoch(epoch, nodes, network, prev_scale, params)
        want_nodes = _amount_map(results["node_amounts"], "results.node_amounts")
        want_providers = _amount_map(results["provider_totals"], "results.provider_totals")
        pool = _amount(results["pool_base_units"], "results.pool_base_units")
        distributed = _amount(results["distributed_base_units"], "results.distributed")
        undistributed = _amount(results["undistributed_base_units"], "results.undistributed")
    except Exception as exc:  # a malformed bundle fails its checks, it never crashes verify
        for name in names[1:]:
            checks.fail(name, f"not recomputed: {exc!r}")
        return
    got = (
        result.pool_base_units,
        result.distributed_base_units,
        result.undistributed_base_units,
        result.scale.scale_ppm,
        result.eligible_nodes,
    )
    want = (pool, distributed, undistributed, results["scale_ppm"], results["eligible_nodes"])
    checks.add(
        "pool",
        got == want,
        f"{got[0]} base units at scale {got[3]} ppm, {got[1]} distributed, {got[4]} eligible nodes",
        f"recomputed (pool, distributed, undistributed, scale_ppm, eligible) {got}, "
        f"the epoch stored {want}",
    )
    amounts = {r.node_id: r.amount_base_units for r in result.receipts}
    diffs = _differences("node", amounts, want_nodes)
    checks.add(
        "node_amounts", not diffs, f"{len(want_nodes)} receipts match", diffs[0] if diffs else ""
    )
    totals = {p: a for p, a in result.provider_totals.items() if a > 0}
    diffs = _differences("provider", totals, want_providers)
    checks.add(
        "provider_totals",
        not diffs,
        f"{len(totals)} providers' reward transfers match",
        diffs[0] if diffs else "",
    )


def _check_network(
    checks: _Checks, nodes: list[NodeRewardInput], network: NetworkConditions, params: ParameterSet
) -> None:
    """Utilization, active nodes and demand / supply are measured from the nodes' rollups
    (docs/epochs.md, "Inputs"); only the prices come from outside the bundle's nodes."""
    got = tuple(measured_conditions(nodes, params))
    want = (
        network.utilization_ppm,
        network.active_nodes,
        dict(network.resource_demand_supply_ppm),
    )
    checks.add(
        "network_conditions",
        got == want,
        f"utilization {got[0]} ppm, {got[1]} active nodes, demand/supply {got[2]}",
        f"measured from the nodes (utilization, active, demand/supply) {got}, "
        f"the bundle says {want}",
    )


def _check_leaves(
    checks: _Checks, top: Mapping[str, Any], matured: Mapping[str, int], stored_root: bytes
) -> None:
    """The previous root from its leaves, then previous + matured -> this root."""
    previous: dict[str, int] = {}
    try:
        prev = top["previous"]
        if prev is None:
            checks.add("previous_root", True, "no previous closed epoch: no previous leaves", "")
        else:
            prev = _obj(prev, "previous", _PREVIOUS_FIELDS)
            previous = _amount_map(prev["leaves"], "previous.leaves")
            prev_root, built = _root(prev["root"], "previous.root"), _tree_root(previous)
            checks.add(
                "previous_root",
                built == prev_root,
                f"epoch {prev['epoch']}: {len(previous)} leaves, 0x{built.hex()}",
                f"epoch {prev['epoch']}: the previous leaves build 0x{built.hex()}, "
                f"its root is 0x{prev_root.hex()}",
            )
    except (BundleError, ValueError) as exc:
        checks.fail("previous_root", str(exc))
    leaves = dict(previous)
    for provider, amount in matured.items():
        leaves[provider] = leaves.get(provider, 0) + amount
    down = sorted(p for p, c in leaves.items() if c < previous.get(p, 0))
    checks.add(
        "leaves_never_decrease",
        not down,
        f"{len(leaves)} leaves = previous + matured ({sum(matured.values())} base units "
        f"matured for {len(matured)} providers); none decreases",
        f"provider {down[0]}: leaf {leaves[down[0]]} < previous {previous.get(down[0], 0)}"
        if down
        else "",
    )
    try:
        built = _tree_root(leaves)
    except ValueError as exc:
        checks.fail("root", f"the leaves build no tree: {exc}")
    else:
        count = sum(1 for c in leaves.values() if c > 0)
        checks.add(
            "root",
            built == stored_root and count == top["leaf_count"],
            f"0x{built.hex()} over {count} leaves",
            f"previous + matured build 0x{built.hex()} over {count} leaves, the epoch's root "
            f"is 0x{stored_root.hex()} over {top['leaf_count']}",
        )
    prov = provenance_digest(
        stored_root,
        str(top["inputs_digest"]),
        str(top["params_hash"]),
        str(top["calculator_version"]),
    )
    checks.add(
        "provenance_digest",
        prov == top["provenance_digest"],
        prov,
        f"recomputed {prov}, the epoch stored {top['provenance_digest']}",
    )


def _check_chain(
    checks: _Checks,
    top: Mapping[str, Any],
    stored_root: bytes,
    chain_root: bytes | None,
    chain: ChainProvenance | None,
) -> None:
    """The distributor's root of the epoch, and the digests posted beside it."""
    if chain_root is None:
        checks.skip("root_on_chain", "not checked (no --rpc)")
        return
    if chain_root == _ZERO_ROOT:
        checks.fail("root_on_chain", f"no root posted for epoch {top['epoch']}")
        return
    checks.add(
        "root_on_chain",
        chain_root == stored_root,
        f"0x{chain_root.hex()} matches",
        f"the distributor holds 0x{chain_root.hex()}, the bundle's root is 0x{stored_root.hex()}",
    )
    if chain is None:
        checks.fail("provenance_on_chain", "no RootPosted event found for the epoch")
        return
    got = (chain.inputs_digest, chain.params_hash)
    want = (top["inputs_digest"], top["params_hash"])
    checks.add(
        "provenance_on_chain",
        got == want,
        f"inputs digest {got[0]} and params hash {got[1]} posted beside the root "
        f"(calculator version {chain.calculator_version})",
        f"posted beside the root: inputs digest {got[0]}, params hash {got[1]}; the bundle's: "
        f"{want[0]}, {want[1]}",
    )
