"""Load the committed contract artifacts (ABI, creation and runtime bytecode)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).with_name("artifacts")

#: The deployed system; the other artifacts (``HookedToken``, ``ReentrantReceiver``) are test
#: helpers compiled from ``contracts/src/mocks``.
SYSTEM_CONTRACTS = ("SwarmToken", "StakingVault", "RewardsDistributor", "SwarmTimelock")


@dataclass(frozen=True, slots=True)
class Artifact:
    """One compiled contract: ``bytecode`` deploys it, ``deployed_bytecode`` is its code."""

    name: str
    source: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str

    @property
    def abi_list(self) -> list[dict[str, Any]]:
        """The ABI as the list web3 expects."""
        return list(self.abi)


def artifact_names() -> list[str]:
    """Names of every committed artifact, sorted."""
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))


@functools.cache
def load_artifact(name: str) -> Artifact:
    """Return the artifact of contract ``name``; ``FileNotFoundError`` if it was not compiled."""
    path = ARTIFACTS_DIR / f"{name}.json"
    raw = json.loads(path.read_text())
    return Artifact(
        name=raw["contractName"],
        source=raw["sourceName"],
        abi=tuple(raw["abi"]),
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
    )
