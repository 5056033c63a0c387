"""Node hardware profiles: validation against the documented floors, capacity, required stake.

Pure. Every number comes from the parameter set.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ledger.kit.errors import InvalidInput
from ledger.kit.limits import MAX_BANDWIDTH_GBPS, MAX_GPUS, MAX_RAM_GB, MAX_STORAGE_TB
from ledger.kit.money import Rounding, mul_div
from ledger.params.domain import ParameterSet

ADDRESS_RE = re.compile(r"^0x[0-9a-f]{40}$")
NODE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{16,128}$")


class NodeStatus(enum.StrEnum):
    """The status of a node version (``node_versions.status``, ``nodes.status``)."""

    ACTIVE = "active"  # heartbeats accepted, earns, can be slashed
    DEREGISTERED = "deregistered"  # final: its heartbeats are refused, its id is never reused


class RegistryError(InvalidInput, ValueError):
    """A registration refused by a rule; ``field`` names the input, ``code`` is ``rule_<rule>``."""

    default_code = "rule_invalid"

    @property
    def rule(self) -> str:
        """The rule refused, without the ``rule_`` prefix of the code."""
        return self.code.removeprefix("rule_")


@dataclass(frozen=True, slots=True)
class HardwareProfile:
    """What a node declares; verification (fingerprints, probes) happens elsewhere."""

    gpus: int
    gpu_class: str
    ram_gb: int
    storage_tb: int
    bandwidth_gbps: int
    fingerprint: str


#: Spellings accepted for a GPU class besides its canonical name: case, spaces, dashes and
#: underscores are ignored, and a vendor or product-line prefix may be given.
GPU_CLASS_PREFIXES: tuple[str, ...] = ("nvidia", "geforce", "tesla")


def canonical_gpu_class(name: object, params: ParameterSet) -> str:
    """The parameter set's name for a declared GPU class ("RTX 4090", "rtx-4090" and
    "NVIDIA GeForce RTX 4090" are all ``rtx4090``); an unknown class is refused, naming the
    accepted ones, rather than priced as ``other`` by accident (declare ``other`` on purpose)."""
    known = [n for n, _ in params.capacity.gpu_class_weights_ppm]
    if not isinstance(name, str) or not name.strip():
        raise RegistryError(
            "is required", code="rule_gpu_class_format", field="hardware.gpu_class",
            details={"accepted": known},
        )  # fmt: skip
    key = "".join(ch for ch in name.lower() if ch not in " -_")
    for prefix in GPU_CLASS_PREFIXES:
        key = key.removeprefix(prefix)
    if key not in known:
        raise RegistryError(
            f"unknown GPU class {name!r}; accepted: {', '.join(known)} (case, spaces and "
            "dashes are ignored)",
            code="rule_unknown_gpu_class", field="hardware.gpu_class",
            details={"accepted": known},
        )  # fmt: skip
    return key


def validate_address(value: object, field: str) -> str:
    if not isinstance(value, str) or not ADDRESS_RE.match(value.lower()):
        raise RegistryError(
            "must be a 0x-prefixed 20-byte hex address", code="rule_address_format", field=field
        )
    return value.lower()


def validate_profile(
    provider_type: str, region: str, profile: HardwareProfile, params: ParameterSet
) -> None:
    """Refuse a profile below its category's documented floor, naming the rule."""
    try:
        ptype = params.providers.type(provider_type)
    except (KeyError, ValueError) as exc:
        raise RegistryError(
            str(exc), code="rule_unknown_provider_type", field="provider_type"
        ) from exc
    if not isinstance(region, str) or not REGION_RE.match(region):
        raise RegistryError(
            "lower-case letters, digits and dashes", code="rule_region_format", field="region"
        )
    for fld, ceiling in (
        ("gpus", MAX_GPUS),
        ("ram_gb", MAX_RAM_GB),
        ("storage_tb", MAX_STORAGE_TB),
        ("bandwidth_gbps", MAX_BANDWIDTH_GBPS),
    ):
        v = getattr(profile, fld)
        if type(v) is not int or not 0 <= v <= ceiling:
            raise RegistryError(
                f"must be an integer 0..{ceiling}",
                code="rule_out_of_range",
                field=f"hardware.{fld}",
            )
    if canonical_gpu_class(profile.gpu_class, params) != profile.gpu_class:
        raise RegistryError(
            "must be given in its canonical form (see canonical_gpu_class)",
            code="rule_gpu_class_format", field="hardware.gpu_class",
        )  # fmt: skip
    if not isinstance(profile.fingerprint, str) or not FINGERPRINT_RE.match(profile.fingerprint):
        raise RegistryError(
            "16..128 lower-case hex", code="rule_fingerprint_format", field="hardware.fingerprint"
        )
    floor = params.providers.hardware_floor(ptype.category)
    if profile.gpus < floor.min_gpus:
        raise RegistryError(
            f"a {provider_type} ({ptype.category} category) needs at least {floor.min_gpus} "
            f"GPUs, got {profile.gpus}",
            code=f"rule_{f'{ptype.category}_min_gpus'}",
            field="hardware.gpus",
        )
    if profile.ram_gb < floor.min_ram_gb:
        raise RegistryError(
            f"a {provider_type} ({ptype.category} category) needs at least {floor.min_ram_gb} "
            f"GB of RAM, got {profile.ram_gb}",
            code=f"rule_{f'{ptype.category}_min_ram_gb'}",
            field="hardware.ram_gb",
        )


def capacity_units_ppm(profile: HardwareProfile, params: ParameterSet) -> int:
    """``gpus x class weight + storage_tb x 0.05 + bandwidth_gbps x 0.02``, in ppm (exact)."""
    cap = params.capacity
    return (
        profile.gpus * cap.gpu_class_weight_ppm(profile.gpu_class)
        + profile.storage_tb * cap.storage_ppm_per_tb
        + profile.bandwidth_gbps * cap.bandwidth_ppm_per_gbps
    )


def required_stake_base_units(
    provider_type: str, profile: HardwareProfile, params: ParameterSet
) -> int:
    """max(type minimum, per-GPU stake x GPUs + per-TB stake x TB)."""
    ptype = params.providers.type(provider_type)
    st = params.staking
    by_hardware = (
        profile.gpus * st.stake_per_gpu_base_units
        + profile.storage_tb * st.stake_per_storage_tb_base_units
    )
    return max(ptype.min_stake_base_units, by_hardware)


def expected_heartbeats(params: ParameterSet) -> int:
    """Heartbeats a node owes per epoch (epoch length over the interval, rounded down)."""
    return mul_div(params.epoch.epoch_length_s, 1, params.telemetry.heartbeat_interval_s,
                   Rounding.DOWN)  # fmt: skip
