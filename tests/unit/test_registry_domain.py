"""Hardware floors, capacity units and required stake, from the parameter set."""

from __future__ import annotations

import pytest

from ledger.kit.money import BASE_UNITS_PER_SWARM as SWARM
from ledger.params.domain import DEFAULT_PARAMS as P
from ledger.registry.domain import (
    HardwareProfile,
    RegistryError,
    capacity_units_ppm,
    required_stake_base_units,
    validate_profile,
)

FP = "ab" * 16


def hw(gpus: int, ram: int, *, cls: str = "h100", tb: int = 0, gbps: int = 0) -> HardwareProfile:
    return HardwareProfile(gpus, cls, ram, tb, gbps, FP)


@pytest.mark.parametrize(
    ("ptype", "profile", "field", "rule"),
    [
        ("data_center", hw(2, 2048), "hardware.gpus", "datacenter_min_gpus"),
        ("gpu_cluster", hw(99, 4096), "hardware.gpus", "datacenter_min_gpus"),
        ("storage_center", hw(100, 1023), "hardware.ram_gb", "datacenter_min_ram_gb"),
        ("edge_location", hw(9, 512), "hardware.gpus", "edge_min_gpus"),
        ("regional_hub", hw(10, 255), "hardware.ram_gb", "edge_min_ram_gb"),
        ("gaming_pc", hw(0, 64), "hardware.gpus", "individual_min_gpus"),
        ("workstation", hw(1, 31), "hardware.ram_gb", "individual_min_ram_gb"),
        ("quantum_pc", hw(1, 32), "provider_type", "unknown_provider_type"),
    ],
)
def test_floors_refuse_naming_the_rule(ptype: str, profile: HardwareProfile, field: str,
                                       rule: str) -> None:  # fmt: skip
    with pytest.raises(RegistryError) as ei:
        validate_profile(ptype, "eu-west", profile, P)
    assert (ei.value.field, ei.value.rule) == (field, rule)


@pytest.mark.parametrize(
    ("ptype", "profile"),
    [
        ("data_center", hw(100, 1024)),
        ("edge_location", hw(10, 256)),
        ("individual", hw(1, 32, cls="t4")),
    ],
)
def test_floors_accept_exactly_the_minimum(ptype: str, profile: HardwareProfile) -> None:
    validate_profile(ptype, "eu-west", profile, P)


def test_capacity_units_are_exact() -> None:
    # 8 x A100 (0.7) + 100 TB x 0.05 + 25 Gbps x 0.02 = 5.6 + 5 + 0.5 = 11.1 units
    assert capacity_units_ppm(hw(8, 512, cls="a100", tb=100, gbps=25), P) == 11_100_000
    assert capacity_units_ppm(hw(3, 64, cls="unknown-gpu"), P) == 300_000  # "other" 0.1


def test_required_stake_is_the_larger_of_floor_and_hardware() -> None:
    assert required_stake_base_units("gaming_pc", hw(1, 32, tb=2), P) == 1_000 * SWARM
    # 300 GPUs x 500 + 40 TB x 100 = 154,000 SWARM > the 100,000 floor
    assert required_stake_base_units("data_center", hw(300, 2048, tb=40), P) == 154_000 * SWARM


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("RTX 4090", "rtx4090"), ("rtx-4090", "rtx4090"), ("NVIDIA GeForce RTX 4090", "rtx4090"),
     ("H100", "h100"), ("nvidia_a100", "a100"), ("L40S", "l40s"), ("other", "other")],
)  # fmt: skip
def test_gpu_class_spellings_map_to_the_parameter_sets_names(given: str, canonical: str) -> None:
    from ledger.registry.domain import canonical_gpu_class

    assert canonical_gpu_class(given, P) == canonical


@pytest.mark.parametrize("given", ["MI300X", "rtx 5090", "", "   ", 4090])
def test_unknown_gpu_class_is_refused_naming_the_accepted_ones(given: object) -> None:
    from ledger.registry.domain import RegistryError, canonical_gpu_class

    with pytest.raises(RegistryError) as ei:
        canonical_gpu_class(given, P)
    assert ei.value.field == "hardware.gpu_class"
    assert "rtx4090" in ei.value.details["accepted"] and "other" in ei.value.details["accepted"]
