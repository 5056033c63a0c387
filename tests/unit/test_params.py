"""The v1 parameter set: SPEC values, hashing, serialisation, immutability and validation."""

from __future__ import annotations

import copy
import dataclasses
import json
import re

import pytest

from ledger.params.domain import (
    CATEGORY_DATACENTER,
    CATEGORY_EDGE,
    CATEGORY_INDIVIDUAL,
    DEFAULT_PARAMS,
    CommitmentTier,
    LadderStep,
    ParameterError,
    ParameterSet,
    ProviderTypeParams,
    UnknownProviderTypeError,
    provider_type,
)

SWARM = 10**18
HOUR = 3600
DAY = 24 * HOUR

P = DEFAULT_PARAMS


# --- SPEC values ------------------------------------------------------------------------------

# (name, category, min stake SWARM, multiplier ppm, latency ms, unbonding days) per SPEC 2.
SPEC_PROVIDER_TABLE = [
    ("individual", CATEGORY_INDIVIDUAL, 1_000, 1_000_000, 100, 7),
    ("gaming_pc", CATEGORY_INDIVIDUAL, 1_000, 1_000_000, 100, 7),
    ("workstation", CATEGORY_INDIVIDUAL, 2_500, 1_050_000, 50, 7),
    ("data_center", CATEGORY_DATACENTER, 100_000, 1_150_000, 50, 28),
    ("gpu_cluster", CATEGORY_DATACENTER, 100_000, 1_200_000, 50, 28),
    ("storage_center", CATEGORY_DATACENTER, 50_000, 1_100_000, 50, 28),
    ("edge_provider", CATEGORY_EDGE, 10_000, 1_100_000, 10, 14),
    ("edge_location", CATEGORY_EDGE, 5_000, 1_100_000, 10, 14),
    ("regional_hub", CATEGORY_EDGE, 50_000, 1_150_000, 20, 14),
]


@pytest.mark.parametrize(
    ("name", "category", "stake_swarm", "multiplier_ppm", "latency_ms", "unbonding_days"),
    SPEC_PROVIDER_TABLE,
)
def test_provider_types_match_spec(
    name: str,
    category: str,
    stake_swarm: int,
    multiplier_ppm: int,
    latency_ms: int,
    unbonding_days: int,
) -> None:
    t = provider_type(name)
    assert t == P.provider_type(name) == P.providers.type(name)
    assert t.name == name
    assert t.category == category
    assert t.min_stake_base_units == stake_swarm * SWARM
    assert t.type_multiplier_ppm == multiplier_ppm
    assert t.latency_target_ms == latency_ms
    assert t.unbonding_period_s == unbonding_days * DAY


def test_exactly_the_nine_provider_types() -> None:
    assert P.providers.type_names == tuple(row[0] for row in SPEC_PROVIDER_TABLE)


@pytest.mark.parametrize("name", ["", "Individual", "validator", "gpu-cluster"])
def test_unknown_provider_type(name: str) -> None:
    with pytest.raises(UnknownProviderTypeError) as info:
        provider_type(name)
    assert info.value.name == name
    assert repr(name) in str(info.value)
    assert "gaming_pc" in str(info.value)  # the message lists what is accepted
    # Callers may catch it either as a failed lookup or as bad input.
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ValueError)


def test_hardware_floors() -> None:
    individual = P.providers.hardware_floor(CATEGORY_INDIVIDUAL)
    datacenter = P.providers.hardware_floor(CATEGORY_DATACENTER)
    edge = P.providers.hardware_floor(CATEGORY_EDGE)
    assert (individual.min_gpus, individual.min_ram_gb) == (1, 32)
    assert (datacenter.min_gpus, datacenter.min_ram_gb) == (100, 1024)
    assert (edge.min_gpus, edge.min_ram_gb) == (10, 256)
    with pytest.raises(KeyError, match="cloud"):
        P.providers.hardware_floor("cloud")


def test_stake_and_capacity() -> None:
    assert P.staking.stake_per_gpu_base_units == 500 * SWARM
    assert P.staking.stake_per_storage_tb_base_units == 100 * SWARM
    assert P.staking.platform_user_min_lock_s == 0
    assert P.staking.network_operator_min_lock_s == 365 * DAY
    expected = {
        "h100": 1_000_000,
        "a100": 700_000,
        "l40s": 500_000,
        "rtx4090": 350_000,
        "a10": 300_000,
        "t4": 150_000,
        "other": 100_000,
    }
    assert dict(P.capacity.gpu_class_weights_ppm) == expected
    assert P.capacity.gpu_class_weight_ppm("H100") == 1_000_000
    assert P.capacity.gpu_class_weight_ppm("a100") == 700_000
    assert P.capacity.gpu_class_weight_ppm("mi300x") == 100_000  # unlisted -> other
    assert P.capacity.storage_ppm_per_tb == 50_000
    assert P.capacity.bandwidth_ppm_per_gbps == 20_000


def test_epoch_and_telemetry() -> None:
    assert P.version == 1
    assert P.epoch.epoch_length_s == 3600
    assert P.epoch.epoch_settle_grace_s >= P.telemetry.clock_skew_s
    assert P.telemetry.heartbeat_interval_s == 60
    assert P.telemetry.telemetry_batch_max == 1000
    assert P.telemetry.clock_skew_s == 300
    assert P.telemetry.min_heartbeats_ppm == 500_000
    assert (P.telemetry.user_rating_min, P.telemetry.user_rating_max) == (1, 5)
    assert P.performance.maintenance_budget_s == 8 * HOUR
    assert P.performance.maintenance_window_s == 30 * DAY


def test_pool_and_scaling() -> None:
    pool = P.pool
    assert pool.base_emission_per_epoch_base_units == 10_000 * SWARM
    assert (pool.scale_min_ppm, pool.scale_max_ppm) == (500_000, 2_000_000)
    assert pool.scale_initial_ppm == 1_000_000
    assert pool.scale_max_step_ppm == 100_000
    assert (pool.demand_factor_intercept_ppm, pool.demand_factor_slope_ppm) == (800_000, 400_000)
    assert pool.growth_factor_max_ppm == 1_250_000
    assert pool.growth_target_nodes == 10_000
    assert (pool.market_factor_min_ppm, pool.market_factor_max_ppm) == (800_000, 1_250_000)
    assert pool.market_factor_no_feed_ppm == 1_000_000


def test_performance_matrix() -> None:
    perf = P.performance
    assert perf.weight_uptime_ppm == 350_000
    assert perf.weight_error_rate_ppm == 300_000
    assert perf.weight_response_time_ppm == 200_000
    assert perf.weight_user_rating_ppm == 150_000
    assert perf.uptime_floor_ppm == 900_000
    assert perf.uptime_target_ppm == 999_000
    assert perf.error_rate_zero_score_ppm == 50_000
    assert perf.no_jobs_error_score_ppm == 1_000_000
    assert perf.unrated_rating_score_ppm == 500_000


def test_multipliers() -> None:
    m = P.multipliers
    assert [(t.name, t.lock_s, t.multiplier_ppm) for t in m.commitment_tiers] == [
        ("flexible", 0, 1_000_000),
        ("30d", 30 * DAY, 1_050_000),
        ("90d", 90 * DAY, 1_100_000),
        ("180d", 180 * DAY, 1_200_000),
        ("365d", 365 * DAY, 1_350_000),
    ]
    assert m.commitment_tier("90d").multiplier_ppm == 1_100_000
    with pytest.raises(KeyError, match="7d"):
        m.commitment_tier("7d")
    assert m.commitment_tier_for_lock(0).name == "flexible"
    assert m.commitment_tier_for_lock(30 * DAY - 1).name == "flexible"
    assert m.commitment_tier_for_lock(30 * DAY).name == "30d"
    assert m.commitment_tier_for_lock(200 * DAY).name == "180d"
    assert m.commitment_tier_for_lock(1000 * DAY).name == "365d"
    assert m.scarcity_resource_classes == ("gpu", "storage", "bandwidth")
    assert (m.scarcity_base_ppm, m.scarcity_slope_ppm, m.scarcity_pivot_ppm) == (
        1_000_000,
        500_000,
        700_000,
    )
    assert (m.scarcity_min_ppm, m.scarcity_max_ppm) == (800_000, 1_500_000)
    assert m.region_underserved_multiplier_ppm == 1_100_000
    assert m.region_default_multiplier_ppm == 1_000_000
    assert m.underserved_regions == ()
    assert m.standing_good_ppm == 1_000_000
    assert m.standing_restoration_steps_ppm == (250_000, 500_000, 750_000, 1_000_000)


def test_slashing() -> None:
    s = P.slashing
    assert s.downtime_uptime_threshold_ppm == 900_000
    assert s.error_rate_threshold_ppm == 100_000
    assert s.latency_threshold_multiple_ppm == 5_000_000
    assert s.offence_window_s == 30 * DAY
    rungs = [
        (r.offence_number, r.reward_multiplier_ppm, r.stake_slash_ppm, r.jail_s) for r in s.ladder
    ]
    assert rungs == [
        (1, 1_000_000, 0, 0),
        (2, 500_000, 1_000, 0),
        (3, 1_000_000, 10_000, 24 * HOUR),
        (4, 1_000_000, 50_000, 7 * DAY),
    ]
    assert [r.governor_review_required for r in s.ladder] == [False, False, False, True]
    assert s.ladder_step(1).label == "warning"
    assert s.ladder_step(4) == s.ladder_step(9) == s.ladder[-1]  # 4th and later
    with pytest.raises(ValueError, match="offence_number"):
        s.ladder_step(0)
    assert (s.security_minor_slash_ppm, s.security_major_slash_ppm) == (50_000, 200_000)
    assert s.security_critical_slash_ppm == 1_000_000
    assert s.security_critical_tombstone is True
    assert s.malicious_slash_ppm == 200_000
    assert s.malicious_tombstone_on_repeat is True
    assert s.under_stake_grace_s == 24 * HOUR
    assert s.sybil_slash_per_duplicate_ppm == 50_000
    assert s.hoarding_slash_per_severity_unit_ppm == 10_000
    assert s.hoarding_slash_max_ppm == 100_000
    assert s.appeal_window_s == 48 * HOUR
    assert s.correlated_outage_threshold_ppm == 200_000
    assert (s.split_insurance_ppm, s.split_treasury_ppm, s.split_burn_ppm) == (
        500_000,
        300_000,
        200_000,
    )


def test_governance() -> None:
    g = P.governance
    assert (g.quorum, g.governor_count) == (2, 3)
    assert g.timelock_s == 24 * HOUR


# --- hashing and canonical JSON ---------------------------------------------------------------


def test_content_hash_is_sha256_hex_and_stable() -> None:
    digest = P.content_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert P.content_hash() == digest
    rebuilt = ParameterSet.from_dict(P.to_dict())
    assert rebuilt is not P
    assert rebuilt.content_hash() == digest
    assert copy.deepcopy(P).content_hash() == digest


@pytest.mark.parametrize(
    "change",
    [
        lambda p: dataclasses.replace(p, version=2),
        lambda p: dataclasses.replace(
            p, epoch=dataclasses.replace(p.epoch, epoch_length_s=p.epoch.epoch_length_s + 1)
        ),
        lambda p: dataclasses.replace(
            p, slashing=dataclasses.replace(p.slashing, appeal_window_s=47 * HOUR)
        ),
        lambda p: dataclasses.replace(
            p,
            multipliers=dataclasses.replace(p.multipliers, underserved_regions=("af-south-1",)),
        ),
    ],
)
def test_changing_one_field_changes_hash(change: object) -> None:
    changed = change(P)  # type: ignore[operator]
    assert changed != P
    assert changed.content_hash() != P.content_hash()


def test_canonical_json_shape() -> None:
    text = P.canonical_json()
    assert " " not in text
    assert "\n" not in text
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert f'"base_emission_per_epoch_base_units":{10_000 * SWARM}' in text


def _walk(node: object, path: str = "") -> list[tuple[str, object]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _walk(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _walk(v, f"{path}[{i}]")]
    return [(path, node)]


def test_canonical_json_has_no_float() -> None:
    leaves = _walk(json.loads(P.canonical_json()))
    assert len(leaves) > 100
    for path, value in leaves:
        assert isinstance(value, bool | int | str), (path, value)
        assert not isinstance(value, float), path
    # Every money and ratio leaf is an integer.
    for path, value in leaves:
        if path.endswith(("_base_units", "_ppm", "_s", "_ms")):
            assert type(value) is int, path


# --- round trip -------------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip() -> None:
    data = P.to_dict()
    rebuilt = ParameterSet.from_dict(data)
    assert rebuilt == P
    assert rebuilt.to_dict() == data
    assert ParameterSet.from_json(P.canonical_json()) == P
    assert isinstance(rebuilt.providers.types, tuple)
    assert isinstance(rebuilt.capacity.gpu_class_weights_ppm[0], tuple)


def test_from_json_refuses_floats() -> None:
    text = P.canonical_json().replace('"split_burn_ppm":200000', '"split_burn_ppm":200000.0')
    assert text != P.canonical_json()
    with pytest.raises(ParameterError, match="float"):
        ParameterSet.from_json(text)


def _tampered(path: tuple[str, ...], value: object) -> dict[str, object]:
    data = P.to_dict()
    node: dict[str, object] = data
    for key in path[:-1]:
        child = node[key]
        assert isinstance(child, dict)
        node = child
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("slashing", "split_burn_ppm"), 200_000.0, "slashing.split_burn_ppm"),
        (("slashing", "split_burn_ppm"), "200000", "slashing.split_burn_ppm"),
        (("slashing", "split_burn_ppm"), True, "slashing.split_burn_ppm"),
        (("slashing", "split_burn_ppm"), 100_000, "slashing.split_insurance_ppm"),
        (("pool", "scale_max_ppm"), 400_000, "pool.scale_max_ppm"),
        (("pool", "base_emission_per_epoch_base_units"), -1, "pool.base_emission_per_epoch"),
        (("pool", "base_emission_per_epoch_base_units"), 2**256, "pool.base_emission_per_epoch"),
        (("performance", "weight_uptime_ppm"), 360_000, "performance.weight_uptime_ppm"),
        (("governance", "quorum"), 4, "governance.quorum"),
        (("version",), 0, "version"),
        (("epoch", "epoch_settle_grace_s"), 10, "epoch.epoch_settle_grace_s"),
        (("epoch", "surprise"), 1, "epoch.surprise"),
        (("multipliers", "underserved_regions"), "eu", "multipliers.underserved_regions"),
    ],
)
def test_from_dict_rejects_bad_values_naming_the_field(
    path: tuple[str, ...], value: object, field: str
) -> None:
    with pytest.raises(ParameterError) as info:
        ParameterSet.from_dict(_tampered(path, value))
    assert info.value.field.startswith(field)
    assert field in str(info.value)


def test_from_dict_rejects_missing_field() -> None:
    data = P.to_dict()
    telemetry = data["telemetry"]
    assert isinstance(telemetry, dict)
    del telemetry["clock_skew_s"]
    with pytest.raises(ParameterError, match=r"telemetry\.clock_skew_s: missing"):
        ParameterSet.from_dict(data)


# --- immutability and validation of directly built sets ---------------------------------------


def test_parameter_set_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.version = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.pool.base_emission_per_epoch_base_units = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.providers.types[0].min_stake_base_units = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        P.providers.types[0] = P.providers.types[1]  # type: ignore[index]
    # CPython 3.11 raises TypeError instead of FrozenInstanceError for new names on a frozen
    # slots dataclass (a known quirk); either way the assignment must fail.
    with pytest.raises((AttributeError, TypeError)):
        P.extra = 1  # type: ignore[attr-defined]
    assert hash(P) == hash(ParameterSet.from_dict(P.to_dict()))


def test_direct_construction_validates() -> None:
    with pytest.raises(ParameterError) as info:
        dataclasses.replace(P.slashing, split_treasury_ppm=350_000)
    assert info.value.field == "slashing.split_insurance_ppm"
    assert "1000000" in str(info.value)
    with pytest.raises(ParameterError, match=r"pool\.scale_min_ppm"):
        dataclasses.replace(P.pool, scale_min_ppm=0)
    with pytest.raises(ParameterError, match=r"performance\.weight_uptime_ppm"):
        dataclasses.replace(P.performance, weight_uptime_ppm=0.35)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"multipliers\.commitment_tiers"):
        dataclasses.replace(P.multipliers, commitment_tiers=P.multipliers.commitment_tiers[::-1])
    with pytest.raises(ParameterError, match=r"multipliers\.standing_restoration_steps_ppm"):
        dataclasses.replace(P.multipliers, standing_restoration_steps_ppm=(500_000, 250_000))
    with pytest.raises(ParameterError, match=r"slashing\.ladder"):
        dataclasses.replace(P.slashing, ladder=P.slashing.ladder[1:])
    with pytest.raises(ParameterError, match=r"providers\.types"):
        dataclasses.replace(P.providers, types=(*P.providers.types, P.providers.types[0]))
    with pytest.raises(ParameterError, match=r"providers\.types\[bad\]\.category"):
        ProviderTypeParams("bad", "cloud", 0, 1_000_000, 10, 0)
    with pytest.raises(ParameterError, match=r"commitment_tiers\[x\]\.lock_s"):
        CommitmentTier("x", -1, 1_000_000)
    with pytest.raises(ParameterError, match=r"ladder\[1\]\.stake_slash_ppm"):
        LadderStep(1, "warning", 1_000_000, 1_000_001, 0, False)
    with pytest.raises(ParameterError, match="must be a tuple"):
        dataclasses.replace(P.multipliers, underserved_regions=["eu"])  # type: ignore[arg-type]


def test_underserved_regions_are_normalised() -> None:
    a = dataclasses.replace(P.multipliers, underserved_regions=("sa-east", "af-south", "sa-east"))
    b = dataclasses.replace(P.multipliers, underserved_regions=("af-south", "sa-east"))
    assert a.underserved_regions == ("af-south", "sa-east")
    assert a == b
    assert (
        dataclasses.replace(P, multipliers=a).content_hash()
        == dataclasses.replace(P, multipliers=b).content_hash()
    )


def test_changed_version_round_trips() -> None:
    v2 = dataclasses.replace(
        P,
        version=2,
        epoch=dataclasses.replace(P.epoch, epoch_length_s=60),
        multipliers=dataclasses.replace(P.multipliers, underserved_regions=("af-south",)),
    )
    assert ParameterSet.from_json(v2.canonical_json()) == v2
    assert ParameterSet.from_json(v2.canonical_json()).content_hash() == v2.content_hash()
