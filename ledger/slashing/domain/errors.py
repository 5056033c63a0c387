"""The slashing domain's one error class, and the checks of its inputs that raise it."""

from __future__ import annotations

import re
from typing import Final

from ledger.kit.errors import InvalidInput

_ADDRESS_RE: Final[re.Pattern[str]] = re.compile(r"0x[0-9a-f]{40}")


class SlashingError(InvalidInput, ValueError):
    """Input or a command the slashing domain refuses, with the field named and a stable code.

    Bad input is ``invalid``; a command that the penalty's or appeal's state forbids is raised
    with ``kind=ErrorKind.CONFLICT``."""

    default_code = "invalid_slashing_input"


def require_int(field: str, value: object, low: int | None = 0, high: int | None = None) -> int:
    """``value`` if it is an int within ``low .. high`` (None: unbounded), else raise."""
    # bool is an int subclass and float is what money arithmetic keeps out; both are refused.
    if isinstance(value, bool) or not isinstance(value, int):
        raise SlashingError(
            f"must be an int, not {type(value).__name__}", code="not_an_integer", field=field
        )
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f"{low} .. {high}" if high is not None else f">= {low}"
        raise SlashingError(f"must be {bound}, got {value}", code="out_of_range", field=field)
    return value


def require_str(field: str, value: object) -> str:
    """``value`` if it is a non-empty str, else raise."""
    if not isinstance(value, str) or not value:
        raise SlashingError("must be a non-empty str", code="not_a_string", field=field)
    return value


def require_address(field: str, value: object) -> str:
    """``value`` if it is a lower-case 0x address, else raise."""
    if not isinstance(value, str) or not _ADDRESS_RE.fullmatch(value):
        raise SlashingError(
            f"must be a lower-case 0x address: {value!r}", code="address_format", field=field
        )
    return value
