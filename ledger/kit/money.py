"""Token amounts as exact integers.

Every SWARM amount in this service is a Python ``int`` count of base units (18 decimals), the same
number that PostgreSQL stores as ``NUMERIC(78,0)`` and Solidity as ``uint256``. This module is the
one place where untrusted input becomes such an integer and where integer arithmetic with an
explicit rounding direction lives. No float and no Decimal is used anywhere: a float cannot hold
2**256 - 1 exactly, and Decimal arithmetic depends on a context precision that is easy to forget.
"""

from __future__ import annotations

import enum
from typing import Final

from ledger.kit.errors import InvalidInput

__all__ = [
    "BASE_UNITS_PER_SWARM",
    "MAX_AMOUNT_BASE_UNITS",
    "MAX_AMOUNT_DIGITS",
    "PPM",
    "SWARM_DECIMALS",
    "AmountError",
    "Rounding",
    "format_swarm",
    "mul_div",
    "mul_div_rem",
    "parse_base_units",
    "parse_swarm",
    "ppm_of",
    "swarm_to_base_units",
]

SWARM_DECIMALS: Final[int] = 18
BASE_UNITS_PER_SWARM: Final[int] = 10**SWARM_DECIMALS
# The uint256 ceiling; it also fits NUMERIC(78,0) because 2**256 - 1 has 78 decimal digits.
MAX_AMOUNT_BASE_UNITS: Final[int] = 2**256 - 1
MAX_AMOUNT_DIGITS: Final[int] = len(str(MAX_AMOUNT_BASE_UNITS))
PPM: Final[int] = 1_000_000

_ASCII_DIGITS: Final[frozenset[str]] = frozenset("0123456789")


class AmountError(InvalidInput, ValueError):
    """An amount that cannot be accepted, with the input field named and a stable code.

    ``code`` is one of ``amount_not_integer``, ``amount_negative``, ``amount_too_large``,
    ``amount_malformed``, ``amount_too_precise`` and ``amount_must_be_positive``.
    """

    default_code = "amount_malformed"


class Rounding(enum.Enum):
    """Direction of an inexact integer division.

    ``DOWN`` is floor (toward negative infinity), ``UP`` is ceiling (toward positive infinity),
    ``HALF_EVEN`` rounds to the nearest integer and breaks exact ties toward the even one. For the
    non-negative amounts that money is, ``DOWN`` is the same as truncation toward zero.
    """

    DOWN = "down"
    UP = "up"
    HALF_EVEN = "half_even"


def _is_plain_digits(text: str) -> bool:
    # str.isdigit() would accept non-ASCII digits such as "٣" or "²", which must be refused.
    return bool(text) and all(ch in _ASCII_DIGITS for ch in text)


def _digits_to_int(digits: str, field: str) -> int:
    """Convert validated ASCII digits, refusing leading zeros and values above the ceiling."""
    if len(digits) > 1 and digits[0] == "0":
        # "010" could be read as octal or as a typo; ambiguous input is refused, not guessed.
        raise AmountError("leading zeros are not allowed", code="amount_malformed", field=field)
    # The length check comes first so a megabyte of digits is refused without converting it.
    if len(digits) > MAX_AMOUNT_DIGITS or int(digits) > MAX_AMOUNT_BASE_UNITS:
        raise AmountError(
            "must be at most 2**256 - 1 base units", code="amount_too_large", field=field
        )
    return int(digits)


def _check_int_range(value: int, field: str, allow_zero: bool) -> int:
    if value < 0:
        raise AmountError("must not be negative", code="amount_negative", field=field)
    if value > MAX_AMOUNT_BASE_UNITS:
        raise AmountError(
            "must be at most 2**256 - 1 base units", code="amount_too_large", field=field
        )
    if value == 0 and not allow_zero:
        raise AmountError("must be greater than zero", code="amount_must_be_positive", field=field)
    return value


def parse_base_units(value: object, field: str = "amount", *, allow_zero: bool = True) -> int:
    """Turn untrusted input into a base-unit amount in ``0 .. MAX_AMOUNT_BASE_UNITS``.

    Accepts an ``int`` (not ``bool``) or a ``str`` of ASCII decimal digits with no sign, spaces,
    underscores, decimal point or exponent, and no leading zero unless the string is exactly
    ``"0"``. Everything else (float, even ``1.0``; Decimal; None; bool) is refused. With
    ``allow_zero=False`` zero is refused too. Raises :class:`AmountError` naming ``field``.
    """
    if isinstance(value, bool):
        # bool is a subclass of int; True as "1 base unit" is almost certainly a bug upstream.
        raise AmountError(
            "must be an integer, not a boolean", code="amount_not_integer", field=field
        )
    if isinstance(value, int):
        return _check_int_range(value, field, allow_zero)
    if isinstance(value, str):
        if value.startswith("-") and _is_plain_digits(value[1:]):
            raise AmountError("must not be negative", code="amount_negative", field=field)
        if not _is_plain_digits(value):
            raise AmountError(
                "must be a string of decimal digits (base units, no sign, point or exponent)",
                code="amount_malformed",
                field=field,
            )
        return _check_int_range(_digits_to_int(value, field), field, allow_zero)
    raise AmountError(
        f"must be an integer or a string of decimal digits, not {type(value).__name__}",
        code="amount_not_integer",
        field=field,
    )


def parse_swarm(text: str, field: str = "amount", *, allow_zero: bool = True) -> int:
    """Parse a human SWARM amount such as ``"1.5"`` or ``"1000"`` into exact base units.

    The grammar is ``digits [ "." 1-18 digits ]`` in ASCII, no sign, spaces, underscores or
    exponent, no leading zero in the whole part unless it is exactly ``"0"``. More than 18
    fractional digits is refused (``amount_too_precise``) even when they are zeros, so nothing is
    ever rounded silently. Raises :class:`AmountError` naming ``field``.
    """
    if not isinstance(text, str):
        raise AmountError(
            f"must be a decimal string, not {type(text).__name__}",
            code="amount_malformed",
            field=field,
        )
    whole, point, frac = text.partition(".")
    if whole.startswith("-") and _is_plain_digits(whole[1:]) and (not point or frac):
        raise AmountError("must not be negative", code="amount_negative", field=field)
    if not _is_plain_digits(whole) or (point and not _is_plain_digits(frac)):
        raise AmountError(
            'must be a decimal SWARM amount such as "1.5" or "1000"',
            code="amount_malformed",
            field=field,
        )
    if len(frac) > SWARM_DECIMALS:
        raise AmountError(
            f"has more than {SWARM_DECIMALS} fractional digits (1 base unit = 1e-18 SWARM)",
            code="amount_too_precise",
            field=field,
        )
    whole_units = _digits_to_int(whole, field)
    # Pad the fraction to 18 digits: "5" after the point is 500000000000000000 base units.
    frac_units = int(frac.ljust(SWARM_DECIMALS, "0")) if frac else 0
    return _check_int_range(whole_units * BASE_UNITS_PER_SWARM + frac_units, field, allow_zero)


def format_swarm(amount_base_units: int) -> str:
    """Render base units as an exact SWARM decimal string, trailing fractional zeros trimmed.

    ``format_swarm(1_500_000_000_000_000_000) == "1.5"``; whole amounts have no point; negative
    amounts (only ever shown, e.g. a debit) get a leading ``"-"``. For non-negative amounts
    ``parse_swarm(format_swarm(x)) == x``.
    """
    if isinstance(amount_base_units, bool) or not isinstance(amount_base_units, int):
        raise TypeError(f"amount_base_units must be an int, not {type(amount_base_units).__name__}")
    sign = "-" if amount_base_units < 0 else ""
    whole, frac = divmod(abs(amount_base_units), BASE_UNITS_PER_SWARM)
    frac_text = str(frac).rjust(SWARM_DECIMALS, "0").rstrip("0")
    return f"{sign}{whole}.{frac_text}" if frac_text else f"{sign}{whole}"


def swarm_to_base_units(whole_swarm: int) -> int:
    """Return the base units of a whole number of SWARM (``1000`` -> ``1000 * 10**18``)."""
    _require_int("whole_swarm", whole_swarm)
    return whole_swarm * BASE_UNITS_PER_SWARM


def _require_int(name: str, value: object) -> None:
    # A float slipping into money arithmetic would silently lose precision; fail loudly instead.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")


def mul_div_rem(a: int, b: int, d: int) -> tuple[int, int]:
    """Return ``(q, r)`` with ``a * b == q * d + r`` and ``0 <= r < d`` (floor division).

    The remainder is what largest-remainder allocation ranks on. ``d`` must be positive.
    """
    _require_int("a", a)
    _require_int("b", b)
    _require_int("d", d)
    if d <= 0:
        raise ValueError(f"d must be positive, got {d}")
    return divmod(a * b, d)


def mul_div(a: int, b: int, d: int, rounding: Rounding) -> int:
    """Return ``a * b / d`` as an integer rounded as ``rounding`` says; exact for any size.

    The product is formed first in Python's unbounded ints, so there is no intermediate overflow
    or precision loss even near 2**256. ``d`` must be positive (``ValueError`` otherwise).
    """
    q, r = mul_div_rem(a, b, d)
    if r == 0 or rounding is Rounding.DOWN:
        return q
    if rounding is Rounding.UP:
        return q + 1
    if rounding is Rounding.HALF_EVEN:
        twice = 2 * r
        if twice > d or (twice == d and q % 2 == 1):
            return q + 1
        return q
    raise ValueError(f"unknown rounding {rounding!r}")


def ppm_of(amount: int, fraction_ppm: int, rounding: Rounding = Rounding.DOWN) -> int:
    """Return ``amount * fraction_ppm / 1_000_000`` rounded as stated (down by default).

    ``fraction_ppm`` must be ``>= 0``; values above ``PPM`` are allowed because multipliers such
    as 1.35 (``1_350_000``) use the same scale.
    """
    _require_int("fraction_ppm", fraction_ppm)
    if fraction_ppm < 0:
        raise ValueError(f"fraction_ppm must not be negative, got {fraction_ppm}")
    return mul_div(amount, fraction_ppm, PPM, rounding)
