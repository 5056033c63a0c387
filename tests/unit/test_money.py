"""Edge cases of the money module: parsing untrusted amounts, formatting, rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.kit.money import (
    BASE_UNITS_PER_SWARM,
    MAX_AMOUNT_BASE_UNITS,
    PPM,
    SWARM_DECIMALS,
    AmountError,
    Rounding,
    format_swarm,
    mul_div,
    mul_div_rem,
    parse_base_units,
    parse_swarm,
    ppm_of,
    swarm_to_base_units,
)


def test_constants() -> None:
    assert SWARM_DECIMALS == 18
    assert BASE_UNITS_PER_SWARM == 1_000_000_000_000_000_000
    assert MAX_AMOUNT_BASE_UNITS == 2**256 - 1
    assert len(str(MAX_AMOUNT_BASE_UNITS)) == 78  # fits NUMERIC(78,0)
    assert PPM == 1_000_000


# --- parse_base_units: accepted ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        ("0", 0),
        (1, 1),
        ("1", 1),
        (10**18, 10**18),
        ("1000000000000000000", 10**18),
        (2**256 - 1, 2**256 - 1),
        (str(2**256 - 1), 2**256 - 1),
    ],
)
def test_parse_base_units_accepts(value: object, expected: int) -> None:
    result = parse_base_units(value)
    assert result == expected
    assert type(result) is int


def test_parse_base_units_max_is_exact() -> None:
    text = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
    assert parse_base_units(text) == 2**256 - 1


# --- parse_base_units: refused ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (2**256, "amount_too_large"),
        (str(2**256), "amount_too_large"),
        ("9" * 80, "amount_too_large"),
        ("1" + "0" * 78, "amount_too_large"),
        ("9" * 100_000, "amount_too_large"),
        (-1, "amount_negative"),
        ("-1", "amount_negative"),
        (-(2**300), "amount_negative"),
        (1.0, "amount_not_integer"),
        (0.0, "amount_not_integer"),
        (float("nan"), "amount_not_integer"),
        (Decimal("1"), "amount_not_integer"),
        (None, "amount_not_integer"),
        (True, "amount_not_integer"),
        (False, "amount_not_integer"),
        (b"1", "amount_not_integer"),
        ([1], "amount_not_integer"),
        ("1e3", "amount_malformed"),
        ("1E3", "amount_malformed"),
        ("1.0", "amount_malformed"),
        ("1.", "amount_malformed"),
        (".5", "amount_malformed"),
        ("", "amount_malformed"),
        (" 1", "amount_malformed"),
        ("1 ", "amount_malformed"),
        ("1\n", "amount_malformed"),
        ("+1", "amount_malformed"),
        ("--1", "amount_malformed"),
        ("-", "amount_malformed"),
        ("1_000", "amount_malformed"),
        ("0x10", "amount_malformed"),
        ("01", "amount_malformed"),
        ("00", "amount_malformed"),
        ("٣", "amount_malformed"),  # Arabic-Indic digit three: str.isdigit() would accept it
        ("²", "amount_malformed"),  # superscript two
        ("\uff11", "amount_malformed"),  # fullwidth digit one
        ("nan", "amount_malformed"),
        ("inf", "amount_malformed"),
    ],
)
def test_parse_base_units_refuses(value: object, code: str) -> None:
    with pytest.raises(AmountError) as info:
        parse_base_units(value, "stake_amount")
    assert info.value.code == code
    assert info.value.field == "stake_amount"
    assert "stake_amount" in str(info.value)


def test_amount_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^amount: "):
        parse_base_units("x")


def test_default_field_name_is_amount() -> None:
    with pytest.raises(AmountError) as info:
        parse_base_units(-5)
    assert info.value.field == "amount"


def test_zero_refused_when_not_allowed() -> None:
    for zero in (0, "0"):
        with pytest.raises(AmountError) as info:
            parse_base_units(zero, "transfer_amount", allow_zero=False)
        assert info.value.code == "amount_must_be_positive"
        assert info.value.field == "transfer_amount"
    assert parse_base_units(1, allow_zero=False) == 1


def test_error_message_is_human_readable() -> None:
    with pytest.raises(AmountError) as info:
        parse_base_units(1.0, "reward")
    assert info.value.message
    assert "float" in info.value.message


# --- parse_swarm ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("0.0", 0),
        ("1", 10**18),
        ("1.5", 15 * 10**17),
        ("1.50", 15 * 10**17),
        ("1000", 1000 * 10**18),
        ("10000", 10_000 * 10**18),
        ("0.000000000000000001", 1),
        ("0.100000000000000000", 10**17),
        ("123.456789012345678901", 123 * 10**18 + 456_789_012_345_678_901),
        (format_swarm(2**256 - 1), 2**256 - 1),
    ],
)
def test_parse_swarm_examples(text: str, expected: int) -> None:
    assert parse_swarm(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0.0000000000000000001", "amount_too_precise"),
        ("1.0000000000000000000", "amount_too_precise"),  # 19 zeros: still no silent rounding
        ("-1", "amount_negative"),
        ("-1.5", "amount_negative"),
        ("1e3", "amount_malformed"),
        ("", "amount_malformed"),
        (" 1", "amount_malformed"),
        ("1.", "amount_malformed"),
        (".5", "amount_malformed"),
        ("1.2.3", "amount_malformed"),
        ("01", "amount_malformed"),
        ("01.5", "amount_malformed"),
        ("1,5", "amount_malformed"),
        ("1_000", "amount_malformed"),
        ("+1", "amount_malformed"),
        ("1.٣", "amount_malformed"),
        ("9" * 80, "amount_too_large"),
        (str(2**256), "amount_too_large"),
        # Within 78 digits of whole SWARM but above 2**256 - 1 once scaled to base units.
        ("1" + "0" * 60, "amount_too_large"),
    ],
)
def test_parse_swarm_refuses(text: str, code: str) -> None:
    with pytest.raises(AmountError) as info:
        parse_swarm(text, "withdraw_amount")
    assert info.value.code == code
    assert info.value.field == "withdraw_amount"
    assert "withdraw_amount" in str(info.value)


@pytest.mark.parametrize("value", [1.5, 1, None, Decimal("1.5")])
def test_parse_swarm_refuses_non_strings(value: object) -> None:
    with pytest.raises(AmountError) as info:
        parse_swarm(value, "amount_swarm")  # type: ignore[arg-type]
    assert info.value.field == "amount_swarm"


def test_parse_swarm_zero_refused_when_not_allowed() -> None:
    with pytest.raises(AmountError) as info:
        parse_swarm("0.000", "amount", allow_zero=False)
    assert info.value.code == "amount_must_be_positive"


# --- format_swarm -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "0"),
        (1, "0.000000000000000001"),
        (10**17, "0.1"),
        (15 * 10**17, "1.5"),
        (10**18, "1"),
        (1000 * 10**18, "1000"),
        (1000 * 10**18 + 1, "1000.000000000000000001"),
        (-15 * 10**17, "-1.5"),
        (-1, "-0.000000000000000001"),
        (
            2**256 - 1,
            "115792089237316195423570985008687907853269984665640564039457.584007913129639935",
        ),
    ],
)
def test_format_swarm_examples(amount: int, text: str) -> None:
    assert format_swarm(amount) == text


@pytest.mark.parametrize("value", [1.5, True, Decimal(1), "1"])
def test_format_swarm_refuses_non_int(value: object) -> None:
    with pytest.raises(TypeError):
        format_swarm(value)  # type: ignore[arg-type]


def test_swarm_to_base_units() -> None:
    assert swarm_to_base_units(1_000) == 1_000 * 10**18
    assert swarm_to_base_units(0) == 0
    with pytest.raises(TypeError):
        swarm_to_base_units(1.5)  # type: ignore[arg-type]


# --- mul_div ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "d", "down", "up", "half_even"),
    [
        (10, 1, 3, 3, 4, 3),  # 3.33
        (20, 1, 3, 6, 7, 7),  # 6.67
        (5, 1, 2, 2, 3, 2),  # 2.5 ties to even 2
        (7, 1, 2, 3, 4, 4),  # 3.5 ties to even 4
        (6, 1, 3, 2, 2, 2),  # exact
        (0, 5, 7, 0, 0, 0),
        (-10, 1, 3, -4, -3, -3),  # floor / ceiling also for negatives
        (-5, 1, 2, -3, -2, -2),  # -2.5 ties to even -2
    ],
)
def test_mul_div_rounding(a: int, b: int, d: int, down: int, up: int, half_even: int) -> None:
    assert mul_div(a, b, d, Rounding.DOWN) == down
    assert mul_div(a, b, d, Rounding.UP) == up
    assert mul_div(a, b, d, Rounding.HALF_EVEN) == half_even


def test_mul_div_huge_values_are_exact() -> None:
    big = 2**256 - 1
    # The intermediate product is ~2**512; a float or a 256-bit word would overflow or round.
    assert mul_div(big, big, big, Rounding.DOWN) == big
    assert mul_div(big, 2**256 - 2, 2**256, Rounding.DOWN) == big - 2
    assert mul_div(big, 2**256 - 2, 2**256, Rounding.UP) == big - 1
    # 10,000 SWARM pool split by a weight ratio: exact to the base unit.
    pool = 10_000 * 10**18
    assert mul_div(pool, 1, 3, Rounding.DOWN) == 3_333_333_333_333_333_333_333
    assert mul_div(pool, 1, 3, Rounding.UP) == 3_333_333_333_333_333_333_334
    assert mul_div(big, PPM, PPM, Rounding.DOWN) == big


@pytest.mark.parametrize("d", [0, -1])
def test_mul_div_requires_positive_divisor(d: int) -> None:
    with pytest.raises(ValueError, match="d must be positive"):
        mul_div(1, 1, d, Rounding.DOWN)
    with pytest.raises(ValueError, match="d must be positive"):
        mul_div_rem(1, 1, d)


def test_mul_div_refuses_floats() -> None:
    with pytest.raises(TypeError):
        mul_div(1.5, 2, 3, Rounding.DOWN)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mul_div(1, True, 3, Rounding.DOWN)


def test_mul_div_rem() -> None:
    assert mul_div_rem(10, 1, 3) == (3, 1)
    assert mul_div_rem(9, 1, 3) == (3, 0)
    assert mul_div_rem(-10, 1, 3) == (-4, 2)  # remainder is always in 0 .. d-1
    q, r = mul_div_rem(2**256 - 1, 7, 2**200 + 1)
    assert q * (2**200 + 1) + r == (2**256 - 1) * 7
    assert 0 <= r < 2**200 + 1


# --- ppm_of -----------------------------------------------------------------------------------


def test_ppm_of() -> None:
    assert ppm_of(10**18, 500_000) == 5 * 10**17
    assert ppm_of(3, 500_000) == 1  # 1.5 rounds down by default
    assert ppm_of(3, 500_000, Rounding.UP) == 2
    assert ppm_of(1000, 1_050_000) == 1050  # multipliers above 100% use the same scale
    assert ppm_of(2**256 - 1, PPM) == 2**256 - 1
    assert ppm_of(123, 0) == 0
    assert ppm_of(1, 1) == 0
    assert ppm_of(1, 1, Rounding.UP) == 1


def test_ppm_of_refuses_negative_fraction() -> None:
    with pytest.raises(ValueError, match="fraction_ppm"):
        ppm_of(100, -1)
