"""The canonical form of a parameter set: plain data, canonical JSON and its SHA-256.

A parameter set is a tree of frozen dataclasses of ``int``, ``str``, ``bool`` and tuples; its
plain form is nested dicts, lists, ints, strs and bools, and its canonical JSON is that with
sorted keys, no whitespace, ASCII only and no float anywhere. The SHA-256 of the canonical JSON
is the set's identity (every reward receipt records it), so nothing here may change the text a
set encodes to. Decoding is strict: unknown or missing fields, floats and bools-as-ints are
refused with a :class:`ParameterError` naming the path; the dataclasses then validate themselves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any, TypeVar, get_args, get_origin

from ledger.params.domain.checks import ParameterError, check_type, hints

__all__ = [
    "canonical_json",
    "content_hash",
    "dataclass_from_plain",
    "from_plain",
    "parse_json_object",
    "to_plain",
]

_T = TypeVar("_T")


def to_plain(value: object) -> object:
    """Return the JSON-shaped form of a dataclass tree: dicts, lists, ints, strs and bools."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        # A plain str, also for a StrEnum member (a provider category): same text, plain type.
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")  # guarded by validate_fields


def from_plain(tp: Any, data: object, path: str) -> object:
    """Rebuild a value of annotation ``tp`` from its JSON-shaped form, strictly."""
    if get_origin(tp) is tuple:
        if not isinstance(data, list | tuple):
            raise ParameterError(f"must be a list, not {type(data).__name__}", field=path)
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], item, f"{path}[{i}]") for i, item in enumerate(data))
        if len(data) != len(args):
            raise ParameterError(f"must have exactly {len(args)} items", field=path)
        return tuple(
            from_plain(item_tp, item, f"{path}[{i}]")
            for i, (item_tp, item) in enumerate(zip(args, data, strict=True))
        )
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return dataclass_from_plain(tp, data, path)
    check_type(tp, data, path)
    return data


def dataclass_from_plain(cls: type[_T], data: object, path: str) -> _T:
    """Rebuild dataclass ``cls`` from a mapping of exactly its fields; it validates itself."""
    if not isinstance(data, Mapping):
        raise ParameterError(
            f"must be an object, not {type(data).__name__}", field=path or "<root>"
        )
    annotations = hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in names:
            raise ParameterError("unknown field", field=f"{prefix}{key}")
    kwargs: dict[str, object] = {}
    for name in names:
        if name not in data:
            raise ParameterError("missing field", field=f"{prefix}{name}")
        kwargs[name] = from_plain(annotations[name], data[name], f"{prefix}{name}")
    return cls(**kwargs)


def canonical_json(value: object) -> str:
    """Return the canonical JSON of a dataclass tree: sorted keys, no whitespace, ASCII."""
    return json.dumps(
        to_plain(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )


def content_hash(value: object) -> str:
    """Return the lowercase hex SHA-256 of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(value).encode("ascii")).hexdigest()


def _refuse_float(text: str) -> object:
    raise ParameterError(f"floats are not allowed in a parameter set: {text}", field="<json>")


def parse_json_object(text: str) -> dict[str, object]:
    """Parse JSON (canonical or not) that must be an object; any float is refused."""
    data = json.loads(text, parse_float=_refuse_float, parse_constant=_refuse_float)
    if not isinstance(data, dict):
        raise ParameterError("must be a JSON object", field="<root>")
    return data
