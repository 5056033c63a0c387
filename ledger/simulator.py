"""Heartbeat simulator: N nodes of all nine provider types sending signed batches over HTTP.

It is the demo's network and the telemetry benchmark's load generator. Behaviours:
healthy, flaky (misses and fails sometimes), down (silent), slow (10x latency target),
forging (signs with a key that is not the registered one), replaying (re-sends old heartbeats).
Keys and choices derive from a seed, so a run can be repeated exactly.
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ledger.kit.signing import address_of, sign_heartbeat
from ledger.params.domain import DEFAULT_PARAMS, ParameterSet


class Behaviour(enum.StrEnum):
    """How a simulated node behaves (see the module docstring)."""

    HEALTHY = "healthy"
    FLAKY = "flaky"
    DOWN = "down"
    SLOW = "slow"
    FORGING = "forging"
    REPLAYING = "replaying"


BEHAVIOURS = tuple(Behaviour)
DEFAULT_MIX: dict[str, float] = {
    Behaviour.HEALTHY: 0.7,
    Behaviour.FLAKY: 0.1,
    Behaviour.DOWN: 0.05,
    Behaviour.SLOW: 0.05,
    Behaviour.FORGING: 0.05,
    Behaviour.REPLAYING: 0.05,
}
#: Hardware that meets each category's floor, by category.
HARDWARE = {
    "individual": {"gpus": 1, "gpu_class": "rtx4090", "ram_gb": 64, "storage_tb": 4,
                   "bandwidth_gbps": 1},
    "datacenter": {"gpus": 128, "gpu_class": "h100", "ram_gb": 2048, "storage_tb": 500,
                   "bandwidth_gbps": 100},
    "edge": {"gpus": 16, "gpu_class": "l40s", "ram_gb": 512, "storage_tb": 40,
             "bandwidth_gbps": 40},
}  # fmt: skip
REGIONS = ("eu-west", "us-east", "ap-south", "af-north")
#: Stake the simulator bonds per node: above every type's requirement for its hardware.
STAKE_PER_NODE_BASE_UNITS = 200_000 * 10**18
#: HTTP limits of the client.
REQUEST_TIMEOUT_S = 30.0
BATCH_SIZE = 1_000


@dataclass
class SimNode:
    node_id: str
    key: bytes
    provider_id: str
    provider_type: str
    region: str
    behaviour: str  # a Behaviour (any other name behaves as healthy)
    seq: int = 0
    #: Hardware fingerprint; two nodes of different providers sharing one are a Sybil pair.
    fingerprint: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return address_of(self.key)


def provider_key(seed: int, p: int) -> bytes:
    """The private key of simulated provider ``p``: its address is the provider id, and it
    signs the provider's own transactions on the demo chain (stake, claims, unstake)."""
    return _derive(seed, f"provider/{p}")


def provider_keys(fleet: Sequence[SimNode], seed: int) -> dict[str, bytes]:
    """provider id -> private key, for the providers of a fleet made with ``seed``."""
    wanted = {n.provider_id for n in fleet}
    out: dict[str, bytes] = {}
    p = 0
    while len(out) < len(wanted) and p < 100 * len(wanted) + 100:
        key = provider_key(seed, p)
        if address_of(key) in wanted:
            out[address_of(key)] = key
        p += 1
    return out


def _derive(seed: int, label: str) -> bytes:
    return hashlib.sha256(f"swarm-sim/{seed}/{label}".encode()).digest()


def make_fleet(
    n: int,
    *,
    seed: int = 1,
    mix: dict[str, float] | None = None,
    providers: int | None = None,
    params: ParameterSet = DEFAULT_PARAMS,
    prefix: str = "sim",
    sybil_pair: bool = True,
) -> list[SimNode]:
    """``n`` nodes cycling through the nine provider types, behaviours drawn from ``mix``.

    With the default mix and at least six nodes every behaviour appears at least once (a small
    fleet drawn at random can miss the rare ones); with ``sybil_pair`` and two providers or
    more, the last two nodes (of different providers) share one hardware fingerprint.
    """
    rng = random.Random(seed)
    kinds, weights = zip(*sorted((mix or DEFAULT_MIX).items()), strict=True)
    types = params.providers.type_names
    n_providers = providers or max(1, n // 10)
    drawn = [rng.choices(kinds, weights)[0] for _ in range(n)]
    if mix is None:
        _cover_every_behaviour(drawn, rng)
    fleet = []
    for i in range(n):
        p = i % n_providers
        node_id = f"{prefix}-{seed}-{i}"
        fleet.append(
            SimNode(
                node_id=node_id,
                key=_derive(seed, f"node/{i}"),
                provider_id=address_of(provider_key(seed, p)),
                provider_type=types[i % len(types)],
                region=REGIONS[i % len(REGIONS)],
                behaviour=drawn[i],
                fingerprint=hashlib.sha256(f"hw/{node_id}".encode()).hexdigest(),
            )
        )
    if sybil_pair and n >= 2 and fleet[-1].provider_id != fleet[-2].provider_id:
        fleet[-1].fingerprint = fleet[-2].fingerprint
    return fleet


def _cover_every_behaviour(drawn: list[str], rng: random.Random) -> None:
    """Turn healthy nodes into each missing behaviour (in place, deterministically)."""
    if len(drawn) < len(BEHAVIOURS):
        return
    for kind in BEHAVIOURS:
        if kind in drawn:
            continue
        healthy = [i for i, b in enumerate(drawn) if b == Behaviour.HEALTHY]
        assert healthy, "the default mix is mostly healthy"
        drawn[rng.choice(healthy)] = kind
    assert set(BEHAVIOURS) <= set(drawn)


def registration_bodies(
    fleet: Sequence[SimNode], params: ParameterSet = DEFAULT_PARAMS
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """The provider and node registration requests for a fleet."""
    providers = sorted({n.provider_id for n in fleet})
    nodes = []
    for n in fleet:
        category = params.providers.type(n.provider_type).category
        hw = dict(HARDWARE[category])
        hw["fingerprint"] = n.fingerprint or hashlib.sha256(f"hw/{n.node_id}".encode()).hexdigest()
        nodes.append({
            "node_id": n.node_id, "provider_id": n.provider_id,
            "provider_type": n.provider_type, "region": n.region, "hardware": hw,
            "node_address": n.address,
        })  # fmt: skip
    return [{"owner_address": p, "payout_address": p} for p in providers], nodes


def register(client: httpx.Client, token: str, fleet: Sequence[SimNode],
             params: ParameterSet = DEFAULT_PARAMS) -> None:  # fmt: skip
    """Register every provider and node through the API (idempotent)."""
    auth = {"Authorization": f"Bearer {token}"}
    providers, nodes = registration_bodies(fleet, params)
    for body in providers:
        client.post("/v1/providers", json=body, headers=auth).raise_for_status()
    for body in nodes:
        client.post("/v1/nodes", json=body, headers=auth).raise_for_status()
    # Bond enough stake for every node through the operator's endpoint; with a chain the
    # endpoint refuses (chain_mode): the providers stake through the vault instead.
    required: dict[str, int] = {}
    for n in fleet:
        required[n.provider_id] = required.get(n.provider_id, 0) + STAKE_PER_NODE_BASE_UNITS
    for provider, amount in sorted(required.items()):
        r = client.post(
            f"/v1/providers/{provider}/stake",
            json={"amount_base_units": str(amount), "bond_id": f"sim-{provider}"},
            headers=auth,
        )
        if not _already_bonded(r) and not _chain_mode(r):
            r.raise_for_status()


#: Codes of a re-sent bond that the ledger already booked. The service stores the lock end
#: (`now + lock`) in the bond's metadata, so the same bond sent again later differs in its
#: metadata only: a second run of the demo on the same data finds its bonds in place.
_REBOND_CODES = frozenset({"exists_with_different_metadata"})


def _conflict_code(r: httpx.Response) -> str | None:
    """The error code of a 409 answer, else None."""
    if r.status_code != 409:
        return None
    try:
        code = r.json().get("error", {}).get("code")
    except ValueError:
        return None
    return code if isinstance(code, str) else None


def _chain_mode(r: httpx.Response) -> bool:
    """True if ``r`` says stake comes from the chain's vault (the providers stake there)."""
    return _conflict_code(r) == "chain_mode"


def _already_bonded(r: httpx.Response) -> bool:
    """True if ``r`` is the 409 of a bond already booked under the same id and amount."""
    return _conflict_code(r) in _REBOND_CODES


def resume(fleet: Iterable[SimNode], now_s: int) -> None:
    """Continue the fleet's sequence numbers past any earlier run's: a node's ``seq`` must
    grow, and a run that started again at 1 would see every heartbeat refused as old. One
    heartbeat per node per interval (several seconds) never catches up with the clock, so
    starting at the Unix time is past every seq an earlier run sent."""
    for node in fleet:
        node.seq = max(node.seq, now_s)


def tick(fleet: Iterable[SimNode], ts: int, rng: random.Random,
         params: ParameterSet = DEFAULT_PARAMS) -> list[dict[str, Any]]:  # fmt: skip
    """The heartbeats the fleet sends for one interval ending at ``ts``."""
    beats = []
    for node in fleet:
        b = node.behaviour
        if b == Behaviour.DOWN:
            continue
        if b == Behaviour.REPLAYING and node.history and rng.random() < 0.5:
            beats.append(rng.choice(node.history))
            continue
        target = params.providers.type(node.provider_type).latency_target_ms
        node.seq += 1
        up = not (b == Behaviour.FLAKY and rng.random() < 0.15)
        hb: dict[str, Any] = {
            "node_id": node.node_id, "seq": node.seq, "ts": ts, "up": up,
            "gpu_util_ppm": rng.randrange(200_000, 950_000),
            "latency_ms_p50": target * 10 if b == Behaviour.SLOW else max(1, target // 2),
            "jobs_ok": rng.randrange(5, 20),
            "jobs_failed": rng.randrange(0, 3) if b == Behaviour.FLAKY else 0,
            "bandwidth_mbps": rng.randrange(500, 5_000),
            "user_rating": rng.choice((None, None, 3, 4, 5)),
        }  # fmt: skip
        key = _derive(0, f"forger/{node.node_id}") if b == Behaviour.FORGING else node.key
        hb["signature"] = sign_heartbeat(hb, key)
        node.history = [*node.history[-9:], hb]
        beats.append(hb)
    return beats


def send(client: httpx.Client, beats: Sequence[dict[str, Any]],
         batch_size: int = BATCH_SIZE) -> Counter[str]:  # fmt: skip
    """POST in batches; returns counts of per-item outcomes (status or rejection reason)."""
    out: Counter[str] = Counter()
    for i in range(0, len(beats), batch_size):
        r = client.post("/v1/telemetry", json={"heartbeats": list(beats[i : i + batch_size])})
        if r.status_code not in (200, 429):
            r.raise_for_status()
        for item in r.json()["results"]:
            out[item.get("reason") or item["status"]] += 1
    return out


def client_for(api_url: str) -> httpx.Client:
    return httpx.Client(base_url=api_url, timeout=REQUEST_TIMEOUT_S)
