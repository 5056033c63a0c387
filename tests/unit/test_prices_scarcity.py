"""The price feed rule (fresh, stale, missing) and scarcity measured from telemetry."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger.kit.errors import InvalidInput
from ledger.params.domain import DEFAULT_PARAMS as P
from ledger.prices.domain import FeedStatus, PriceFact, PriceKind, check_price, read_feed
from ledger.rewards.domain import measured_demand_supply
from tests.unit.test_rewards import make_node

END = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
MAX_AGE = P.pool.price_max_age_s


def fact(kind: PriceKind, price: int, age_s: int) -> PriceFact:
    return PriceFact(kind, price, END - dt.timedelta(seconds=age_s), "oracle-1")


def test_fresh_prices_are_used() -> None:
    r = read_feed(
        {"reference": fact(PriceKind.REFERENCE, 1_000_000, 60),
         "current": fact(PriceKind.CURRENT, 1_250_000, MAX_AGE)},
        END, P,
    )  # fmt: skip
    assert (r.reference_price, r.current_price) == (1_000_000, 1_250_000)
    assert set(r.status.values()) == {FeedStatus.FRESH}


def test_one_stale_or_missing_price_means_no_feed_and_says_which() -> None:
    stale = read_feed(
        {"reference": fact(PriceKind.REFERENCE, 1_000_000, 60),
         "current": fact(PriceKind.CURRENT, 1_250_000, MAX_AGE + 1)},
        END, P,
    )  # fmt: skip
    assert (stale.reference_price, stale.current_price) == (None, None)
    assert stale.status == {"reference": FeedStatus.FRESH, "current": FeedStatus.STALE}
    assert stale.to_json()["current"]["status"] == "stale"
    missing = read_feed({"reference": None, "current": None}, END, P)
    assert missing.status == {"reference": FeedStatus.MISSING, "current": FeedStatus.MISSING}
    assert missing.reference_price is None


@pytest.mark.parametrize(
    ("kind", "price", "source", "field"),
    [("spot", 1, "x", "kind"), ("current", 0, "x", "price_micro_usd"),
     ("current", 1.5, "x", "price_micro_usd"), ("current", True, "x", "price_micro_usd"),
     ("current", 10, "", "source")],
)  # fmt: skip
def test_malformed_prices_are_refused_naming_the_field(
    kind: object, price: object, source: object, field: str
) -> None:
    with pytest.raises(InvalidInput) as ei:
        check_price(kind, price, source)
    assert ei.value.field == field


def test_scarcity_is_the_capacity_weighted_mean_utilization_per_class() -> None:
    nodes = [
        # gpu class: 1.0 capacity at 90% and 3.0 at 50% -> (0.9 + 1.5) / 4 = 60%
        make_node("a", provider_type="gaming_pc", capacity_units_ppm=1_000_000,
                  gpu_util_ppm_sum=1_800_000, heartbeats_accepted=2),
        make_node("b", provider_type="data_center", capacity_units_ppm=3_000_000,
                  gpu_util_ppm_sum=500_000, heartbeats_accepted=1),
        # bandwidth class (edge): 20%
        make_node("c", provider_type="edge_location", capacity_units_ppm=500_000,
                  gpu_util_ppm_sum=200_000, heartbeats_accepted=1),
        # storage is not measured; a silent node does not count as supply
        make_node("d", provider_type="storage_center", gpu_util_ppm_sum=1_000_000,
                  heartbeats_accepted=1),
        make_node("e", provider_type="gpu_cluster", capacity_units_ppm=9_000_000,
                  heartbeats_accepted=0),
    ]  # fmt: skip
    assert measured_demand_supply(nodes, P) == {"gpu": 600_000, "bandwidth": 200_000}


def test_scarcity_moves_rewards_between_classes() -> None:
    """With a busy gpu class and an idle bandwidth class, a gpu node earns more than the
    same capacity in the bandwidth class (the multiplier is applied, not ignored)."""
    from ledger.rewards.domain import NetworkConditions, compute_epoch

    gpu = make_node("g", provider_type="workstation", gpu_util_ppm_sum=1_000_000,
                    heartbeats_accepted=1)  # fmt: skip
    edge = make_node("e", provider_type="edge_location", gpu_util_ppm_sum=0,
                     heartbeats_accepted=1)  # fmt: skip
    params = P
    ds = measured_demand_supply([gpu, edge], params)
    assert ds == {"gpu": 1_000_000, "bandwidth": 0}
    res = compute_epoch(
        42, [gpu, edge], NetworkConditions(0, 2, resource_demand_supply_ppm=ds), None, params
    )
    by = {r.node_id: r for r in res.receipts}
    assert by["g"].scarcity_multiplier_ppm == 1_150_000
    assert by["e"].scarcity_multiplier_ppm == 800_000
