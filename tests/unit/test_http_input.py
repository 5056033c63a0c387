"""The shared input checks of ledger.kit.http: text, JSON bodies, the operator scheme."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ledger.kit.errors import Malformed, Unauthorized
from ledger.kit.http import (
    Int64,
    SafeText,
    check_operator,
    nesting_problem,
    parse_json_body,
    text_problem,
)
from ledger.kit.limits import MAX_INT64, MAX_JSON_DEPTH, MIN_INT64


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


# Strings full of brackets, quotes and backslashes: the skeleton must ignore what is inside.
tricky_text = st.text(alphabet='[]{}"\\ab\u00e9\n', max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=60,
)


def nested(levels: int) -> Any:
    value: Any = 1
    for i in range(levels):
        value = [value] if i % 2 else {"k[": value}
    return value


@settings(max_examples=300)
@given(json_values, st.integers(min_value=0, max_value=MAX_JSON_DEPTH + 3))
def test_nesting_check_agrees_with_the_real_depth(value: Any, extra: int) -> None:
    doc = [nested(extra), value]
    body = json.dumps(doc).encode()
    expected = "too_deep" if depth(doc) > MAX_JSON_DEPTH else None
    assert nesting_problem(body) == expected


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "too_deep"),
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, None),
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        (b"[" * 100_000, "invalid_json"),  # never reaches the recursive parser
        (b"[}", "invalid_json"),
        (b'"[[[[\\"[[[[' + b"[" * 50 + b'"', None),
    ],
)
def test_nesting_examples(body: bytes, problem: str | None) -> None:
    assert nesting_problem(body) == problem


@pytest.mark.parametrize("body", [b'"' + b"a" * 2_000_000, b'"\\' * 1_000_000, b'"' * 2_000_000])
def test_nesting_check_is_linear_on_hostile_bodies(body: bytes) -> None:
    started = time.perf_counter()
    nesting_problem(body)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b'{"a": 1, "a": 2}', "duplicate_key", "a"),
        (b'{"x": {"b": 1, "b": 1}}', "duplicate_key", "b"),
        (b"{nope", "invalid_json", "body"),
        (b"\xff", "invalid_json", "body"),
        (b"", "invalid_json", "body"),
        (b"[" * 5_000 + b"]" * 5_000, "too_deep", "body"),
    ],
)
def test_parse_json_body_refusals(body: bytes, code: str, field: str) -> None:
    with pytest.raises(Malformed) as info:
        parse_json_body(body)
    assert (info.value.code, info.value.field) == (code, field)


def test_parse_json_body_keeps_nul_for_the_types_to_refuse() -> None:
    assert parse_json_body(b'{"a": "x\\u0000", "b": "\\ud800"}') == {"a": "x\x00", "b": "\ud800"}


@pytest.mark.parametrize("value", ["a\x00", "\ud800", "ok\udfffok"])
def test_safe_text_refuses_nul_and_lone_surrogates(value: str) -> None:
    class M(BaseModel):
        s: SafeText

    assert text_problem(value) is not None
    with pytest.raises(ValidationError):
        M(s=value)
    assert M(s="caf\u00e9 \U0001f600").s == "caf\u00e9 \U0001f600"


def test_int64_bounds() -> None:
    class M(BaseModel):
        n: Int64

    assert M(n=MAX_INT64).n == MAX_INT64 and M(n=MIN_INT64).n == MIN_INT64
    for bad in (MAX_INT64 + 1, MIN_INT64 - 1, 2**70):
        with pytest.raises(ValidationError):
            M(n=bad)


@pytest.mark.parametrize("header", ["Bearer t0k", "bearer t0k", "BEARER t0k", "  Bearer   t0k "])
def test_bearer_scheme_in_any_case(header: str) -> None:
    check_operator("t0k", header)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic t0k", "Bearer t0kx", "t0k"])
def test_other_credentials_are_refused(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        check_operator("t0k", header)
