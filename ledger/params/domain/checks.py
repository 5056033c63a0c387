"""Field checks driven by the dataclass annotations, shared by the schema and the codec.

The schema validates every field of a parameter dataclass with :func:`validate_fields` (type,
then the rule the unit suffix implies), so a new field is checked without anyone remembering to
add code for it; the codec decodes leaves with :func:`check_type`, so JSON is held to the same
types. Errors are :class:`ParameterError` with the dotted path of the culprit as ``field``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Final, get_args, get_origin, get_type_hints

from ledger.kit.errors import InvalidInput
from ledger.kit.money import MAX_AMOUNT_BASE_UNITS

__all__ = [
    "ParameterError",
    "check_name",
    "check_range",
    "check_type",
    "check_unique",
    "hints",
    "validate_fields",
]

# Names (types, tiers, classes, regions) end up in JSON, URLs and SQL; keep them boring.
_NAME_RE: Final[re.Pattern[str]] = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


class ParameterError(InvalidInput, ValueError):
    """A parameter set that violates a rule; ``field`` is the dotted path of the culprit."""

    default_code = "invalid_parameter"


_HINTS_CACHE: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of ``cls``, cached."""
    # Resolving string annotations is slow; a parameter set is built field by field many times.
    found = _HINTS_CACHE.get(cls)
    if found is None:
        found = _HINTS_CACHE[cls] = get_type_hints(cls)
    return found


def check_type(tp: Any, value: object, path: str) -> None:
    """Refuse ``value`` unless it is exactly of annotation ``tp`` (bool is not an int here)."""
    if tp is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"must be a bool, not {type(value).__name__}", field=path)
        return
    if tp is int:
        # bool is an int subclass and float is what we are keeping out; both are refused.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"must be an int, not {type(value).__name__}", field=path)
        return
    if tp is str:
        if not isinstance(value, str):
            raise ParameterError(f"must be a str, not {type(value).__name__}", field=path)
        return
    if get_origin(tp) is tuple:
        _check_tuple(tp, value, path)
        return
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, tp):
            raise ParameterError(f"must be a {tp.__name__}, not {type(value).__name__}", field=path)
        return
    raise TypeError(f"{path}: unsupported parameter type {tp!r}")  # a programming error


def _check_tuple(tp: Any, value: object, path: str) -> None:
    if not isinstance(value, tuple):
        raise ParameterError(f"must be a tuple, not {type(value).__name__}", field=path)
    args = get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        for i, item in enumerate(value):
            check_type(args[0], item, f"{path}[{i}]")
        return
    if len(value) != len(args):
        raise ParameterError(f"must have exactly {len(args)} items", field=path)
    for i, (item_tp, item) in enumerate(zip(args, value, strict=True)):
        check_type(item_tp, item, f"{path}[{i}]")


def _int_leaves(value: object) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, tuple):
        return [leaf for item in value for leaf in _int_leaves(item)]
    return []


def _check_unit_suffix(name: str, value: object, path: str) -> None:
    """Apply the rule the unit suffix implies to every integer in the field."""
    for leaf in _int_leaves(value):
        if name.endswith("_base_units") and not 0 <= leaf <= MAX_AMOUNT_BASE_UNITS:
            raise ParameterError("must be an amount in 0 .. 2**256 - 1 base units", field=path)
        if name.endswith(("_ppm", "_s", "_ms")) and leaf < 0:
            raise ParameterError("must not be negative", field=path)


def validate_fields(obj: object, path: str) -> None:
    """Check every field's type against its annotation, then its unit suffix rule."""
    annotations = hints(type(obj))
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        where = f"{path}.{f.name}" if path else f.name
        check_type(annotations[f.name], value, where)
        _check_unit_suffix(f.name, value, where)


def check_range(path: str, value: int, low: int, high: int | None = None) -> None:
    """Refuse ``value`` outside ``low .. high`` (``high=None``: no upper bound)."""
    if value < low or (high is not None and value > high):
        bound = f"{low} .. {high}" if high is not None else f">= {low}"
        raise ParameterError(f"must be {bound}, got {value}", field=path)


def check_name(path: str, value: str) -> None:
    """Refuse a name that is not lower case ``[a-z0-9_.-]``, 1-64 characters."""
    if not _NAME_RE.fullmatch(value):
        raise ParameterError(
            f"{value!r} is not a lowercase name ([a-z0-9_.-], 1-64 chars)", field=path
        )


def check_unique(path: str, names: list[str]) -> None:
    """Refuse the first name that repeats."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ParameterError(f"duplicate entry {name!r}", field=path)
        seen.add(name)
