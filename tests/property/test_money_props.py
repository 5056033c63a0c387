"""Property tests of the money module: exact round trips and rounding bounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.kit.money import (
    MAX_AMOUNT_BASE_UNITS,
    PPM,
    Rounding,
    format_swarm,
    mul_div,
    mul_div_rem,
    parse_base_units,
    parse_swarm,
    ppm_of,
)

amounts = st.integers(min_value=0, max_value=MAX_AMOUNT_BASE_UNITS)
# Small and boundary values are where off-by-one errors hide; hypothesis mixes them in.
factors = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=MAX_AMOUNT_BASE_UNITS),
)
signed = st.integers(min_value=-MAX_AMOUNT_BASE_UNITS, max_value=MAX_AMOUNT_BASE_UNITS)
divisors = st.one_of(
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=MAX_AMOUNT_BASE_UNITS + 1),
)


@given(amounts)
def test_format_parse_round_trip(amount: int) -> None:
    text = format_swarm(amount)
    assert parse_swarm(text) == amount
    # Canonical form: no trailing fractional zeros and no dangling point.
    if "." in text:
        assert not text.endswith("0")
        assert not text.endswith(".")


@given(amounts)
def test_base_units_string_round_trip(amount: int) -> None:
    assert parse_base_units(str(amount)) == amount
    assert parse_base_units(amount) == amount


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_BASE_UNITS))
def test_format_negative_mirrors_positive(amount: int) -> None:
    assert format_swarm(-amount) == "-" + format_swarm(amount)


@given(signed, factors, divisors)
def test_mul_div_bounds(a: int, b: int, d: int) -> None:
    down = mul_div(a, b, d, Rounding.DOWN)
    up = mul_div(a, b, d, Rounding.UP)
    half = mul_div(a, b, d, Rounding.HALF_EVEN)
    product = a * b
    # DOWN is the floor and UP the ceiling of the exact quotient, one apart unless exact.
    assert down * d <= product < (down + 1) * d
    assert (up - 1) * d < product <= up * d
    assert up - down == (0 if product % d == 0 else 1)
    assert down <= half <= up
    # HALF_EVEN is a nearest integer: at most half a unit away from the exact quotient.
    assert abs(half * d - product) * 2 <= d


@given(signed, factors, divisors)
def test_mul_div_rem_consistent(a: int, b: int, d: int) -> None:
    q, r = mul_div_rem(a, b, d)
    assert q * d + r == a * b
    assert 0 <= r < d
    assert q == mul_div(a, b, d, Rounding.DOWN)


@given(amounts, st.integers(min_value=0, max_value=PPM))
def test_ppm_of_never_exceeds_amount_for_fractions(amount: int, fraction_ppm: int) -> None:
    part = ppm_of(amount, fraction_ppm)
    rest = ppm_of(amount, PPM - fraction_ppm, Rounding.UP)
    assert 0 <= part <= amount
    # Rounding the complement up makes the two shares add back to the whole amount.
    assert part + rest == amount
