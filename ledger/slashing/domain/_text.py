"""Exact, integer-only renderings of ppm fractions, factors and durations for the rule texts."""

from __future__ import annotations

from typing import Final

from ledger.kit.money import PPM

_HOUR_S: Final[int] = 3_600
_DAY_S: Final[int] = 86_400


def fmt_ppm(ppm: int) -> str:
    """``10_000`` -> ``"1%"``, ``1_000`` -> ``"0.1%"``: exact, integer arithmetic only."""
    whole, frac = divmod(ppm, 10_000)
    frac_text = f"{frac:04d}".rstrip("0")
    return f"{whole}.{frac_text}%" if frac_text else f"{whole}%"


def fmt_factor(ppm: int) -> str:
    """``500_000`` -> ``"0.5"``, ``1_000_000`` -> ``"1"``: a multiplier, exactly."""
    whole, frac = divmod(ppm, PPM)
    frac_text = f"{frac:06d}".rstrip("0")
    return f"{whole}.{frac_text}" if frac_text else f"{whole}"


def fmt_duration(seconds: int) -> str:
    """``86_400`` -> ``"1 d"``, ``7_200`` -> ``"2 h"``, anything else in seconds."""
    if seconds and seconds % _DAY_S == 0:
        return f"{seconds // _DAY_S} d"
    if seconds and seconds % _HOUR_S == 0:
        return f"{seconds // _HOUR_S} h"
    return f"{seconds} s"
