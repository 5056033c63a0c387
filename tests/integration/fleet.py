"""Register test providers and nodes with real keys, and sign heartbeats like a node would."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from ledger.kit.db import transaction
from ledger.kit.signing import address_of, sign_heartbeat
from ledger.params.domain import DEFAULT_PARAMS, ParameterSet
from ledger.registry import service as registry
from ledger.registry.domain import HardwareProfile

HARDWARE = {
    "individual": HardwareProfile(1, "rtx4090", 32, 2, 1, ""),
    "datacenter": HardwareProfile(128, "h100", 2048, 500, 100, ""),
    "edge": HardwareProfile(12, "l40s", 256, 20, 40, ""),
}


@dataclass
class FleetNode:
    node_id: str
    key: bytes
    provider_id: str
    provider_type: str
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return address_of(self.key)

    def heartbeat(self, ts: int, *, seq: int | None = None, key: bytes | None = None,
                  **overrides: Any) -> dict[str, Any]:  # fmt: skip
        """A signed heartbeat (next seq unless given); ``key`` signs with another key."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        hb: dict[str, Any] = {
            "node_id": self.node_id, "seq": seq, "ts": ts, "up": True,
            "gpu_util_ppm": 600_000, "latency_ms_p50": 40, "jobs_ok": 10, "jobs_failed": 0,
            "bandwidth_mbps": 1000, "user_rating": None,
        }  # fmt: skip
        hb.update({k: v for k, v in overrides.items() if k != "signature"})
        hb["signature"] = sign_heartbeat(hb, key or self.key)
        self.sent.append(hb)
        return hb


def make_fleet(
    engine: Engine,
    n: int,
    *,
    types: tuple[str, ...] = ("gaming_pc",),
    params: ParameterSet = DEFAULT_PARAMS,
    region: str = "eu-west",
    registered_at: dt.datetime | None = None,
) -> list[FleetNode]:
    """One provider with ``n`` nodes cycling through ``types``, registered for real."""
    tag = secrets.token_hex(4)
    provider = "0x" + hashlib.sha256(tag.encode()).hexdigest()[:40]
    nodes = []
    with transaction(engine) as conn:
        registry.register_provider(conn, owner_address=provider, payout_address=provider)
        for i in range(n):
            ptype = types[i % len(types)]
            category = params.providers.type(ptype).category
            hw = HARDWARE[category]
            fingerprint = hashlib.sha256(f"{tag}{i}".encode()).hexdigest()
            hw = HardwareProfile(hw.gpus, hw.gpu_class, hw.ram_gb, hw.storage_tb,
                                 hw.bandwidth_gbps, fingerprint)  # fmt: skip
            node = FleetNode(f"n-{tag}-{i}", secrets.token_bytes(32), provider, ptype)
            registry.register_node(
                conn, node_id=node.node_id, provider_id=provider, provider_type=ptype,
                region=region, hardware=hw, node_address=node.address, params=params,
                now=registered_at or dt.datetime.now(dt.UTC),
            )  # fmt: skip
            nodes.append(node)
    return nodes


def now_ts() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())
