"""What every router shares: the input types, the JSON body parser, operator authentication
and cursor pagination.

Input types refuse, in one place, what PostgreSQL or psycopg would refuse later as a 500: a NUL
(0x00) in text, a lone surrogate (``"\\ud800"``, which has no UTF-8 encoding) and an integer
outside its bigint column. Every path, query and body model uses them, so a bad value is a 422
naming its field.

Operator authentication guards the write routes (a bearer token from the deployment; the
scheme is case-insensitive, RFC 9110 section 11.1). Pagination is keyset pagination: a page is
read with ``limit + 1`` rows after the cursor, and the extra row only says whether there is a
next page.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, Field

from ledger.kit.errors import Malformed, Unauthorized, Unavailable
from ledger.kit.limits import MAX_INT64, MAX_JSON_DEPTH, MAX_UNIX_TS_S, MIN_INT64

Row = TypeVar("Row")

#: Decimal digits of the largest cursor (MAX_INT64 has 19).
MAX_CURSOR_DIGITS = len(str(MAX_INT64))
assert MAX_CURSOR_DIGITS == 19


# --- input types -------------------------------------------------------------------------------
def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as PostgreSQL text, or None if it can."""
    if "\x00" in value:
        return "must not contain NUL (0x00)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain lone surrogates (not encodable as UTF-8)"
    return None


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


#: Text PostgreSQL can store: no NUL, no lone surrogate. Use it for every free-text input.
SafeText = Annotated[str, AfterValidator(_storable)]
#: A 0x-prefixed 20-byte hex address (any case; the services lower-case it).
EthAddress = Annotated[SafeText, Field(pattern=r"^0x[0-9a-fA-F]{40}$", examples=["0x" + "ab" * 20])]
#: An integer that fits a bigint column (2^70 is refused).
Int64 = Annotated[int, Field(ge=MIN_INT64, le=MAX_INT64)]
#: A non-negative integer that fits a bigint column.
NonNegInt64 = Annotated[int, Field(ge=0, le=MAX_INT64)]
#: A Unix time in seconds.
UnixTime = Annotated[int, Field(ge=0, le=MAX_UNIX_TS_S, description="Unix time, seconds")]


# --- the error shape ---------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable")
    message: str = Field(description="for people; starts with the field at fault")
    field: str | None = Field(default=None, description="the input at fault, dotted")
    details: dict[str, Any] | None = None


class ErrorOut(BaseModel):
    """Every error body: ``{"error": {code, message, field?, details?}}``."""

    error: ErrorDetail


# --- JSON bodies -------------------------------------------------------------------------------
def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            shown = key if text_problem(key) is None else repr(key)
            raise Malformed(
                f"body: duplicate key {shown!r} in a JSON object",
                field=shown if shown.isprintable() else "body",
                code="duplicate_key",
            )
        out[key] = value
    return out


#: A JSON string (escapes included), and every byte that is not a bracket.
#: Possessive, and an unterminated string runs to the end: linear time on any input.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+\\?(?:"|\Z)', re.DOTALL)
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_problem(body: bytes) -> str | None:
    """``too_deep`` if arrays and objects nest deeper than MAX_JSON_DEPTH, ``invalid_json`` if
    the brackets cannot nest at all, else None; decided before any parser recurses.

    Python's JSON parser recurses once per level: a body of 100,000 ``[`` can overflow a
    thread's C stack (it crashed a test worker) before it raises RecursionError. So the
    bracket skeleton is checked first, at C speed: strings are cut out, every other byte but
    brackets is deleted, and each pass deletes the innermost pairs (``[]``, ``{}``), which
    lowers the depth by one. A well-nested skeleton always has such a pair.
    """
    skeleton = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for depth in range(MAX_JSON_DEPTH + 1):
        if not skeleton:
            return None  # every level removed: ``depth`` levels deep, within the limit
        shorter = _INNERMOST_PAIR.sub(b"", skeleton)  # one scan: exactly one level less
        if shorter == skeleton:
            return "invalid_json"  # unbalanced or crossed brackets: no innermost pair
        if depth == MAX_JSON_DEPTH:
            return "too_deep"  # a level past the limit was still there to remove
        skeleton = shorter
    raise AssertionError("unreachable")


#: The ASGI scope key under which the body guard (ledger.api.guard) leaves a request's parsed
#: JSON body, for routes that read their body themselves.
PARSED_JSON = "swarm.parsed_json"


def parse_json_body(body: bytes) -> Any:
    """Parse a request body: 400 ``invalid_json`` when it is not JSON (or not UTF-8),
    ``duplicate_key`` naming the key, ``too_deep`` past MAX_JSON_DEPTH levels."""
    problem = nesting_problem(body)
    if problem == "too_deep":
        raise Malformed(
            f"body: nested deeper than {MAX_JSON_DEPTH} levels", field="body", code="too_deep"
        )
    if problem == "invalid_json":
        raise Malformed("body: not JSON (brackets do not nest)", field="body", code="invalid_json")
    try:
        text = body.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_pairs_without_duplicates)
    except UnicodeDecodeError as exc:
        raise Malformed("body: not UTF-8", field="body", code="invalid_json") from exc
    except json.JSONDecodeError as exc:
        raise Malformed(f"body: not JSON ({exc.msg})", field="body", code="invalid_json") from exc
    except RecursionError as exc:  # not reached after nesting_problem; kept as a backstop
        raise Malformed(
            f"body: nested deeper than {MAX_JSON_DEPTH} levels", field="body", code="too_deep"
        ) from exc
    return value


# --- operator authentication -------------------------------------------------------------------
#: The operator's bearer scheme, declared in the OpenAPI document (securitySchemes.operator).
operator_bearer = HTTPBearer(
    scheme_name="operator",
    description="Authorization: Bearer $SWARM_OPERATOR_TOKEN (the scheme is case-insensitive)",
    auto_error=False,
)


def check_operator(expected_token: str, authorization: str | None) -> None:
    """Refuse unless ``authorization`` is ``Bearer <expected_token>`` (any case of "Bearer")."""
    if not expected_token:
        raise Unavailable(
            "registry writes are disabled: set SWARM_OPERATOR_TOKEN", code="writes_disabled"
        )
    scheme, _, given = (authorization or "").strip().partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), expected_token.encode()
    )
    if not ok:
        raise Unauthorized(
            "authorization: a valid operator bearer token is required",
            field="authorization",
            code="unauthorized",
        )


def require_operator(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(operator_bearer)],
) -> None:
    """Refuse unless ``Authorization: Bearer <SWARM_OPERATOR_TOKEN>`` matches (the body guard
    runs the same check before the body is read; this one keeps a route safe on its own)."""
    check_operator(
        request.app.state.runtime.settings.operator_token, request.headers.get("authorization")
    )


# --- pagination --------------------------------------------------------------------------------
#: A ``?cursor=`` of the numeric keyset pages: documented with its pattern, checked by
#: :func:`parse_cursor` (anything else is a 400 ``invalid_cursor``, not a 422).
Cursor = Annotated[
    SafeText | None,
    Query(
        description="next_cursor of the previous page; none for the first page",
        json_schema_extra={"pattern": f"^[0-9]{{1,{MAX_CURSOR_DIGITS}}}$"},
    ),
]


def parse_cursor(cursor: str | None) -> int:
    """Cursors are opaque to clients; here they are the last seen id / seq as decimal text.

    No cursor is the first page (0: ids and sequence numbers start at 1). Anything that is not
    one this API returned is a 400 ``invalid_cursor`` naming the field.
    """
    if cursor is None:
        return 0
    if (
        not cursor.isascii()
        or not cursor.isdigit()
        or len(cursor) > MAX_CURSOR_DIGITS
        or int(cursor) > MAX_INT64
    ):
        raise Malformed(
            "cursor: not a cursor returned by this API", field="cursor", code="invalid_cursor"
        )
    return int(cursor)


def page_of(
    rows: Sequence[Row], limit: int, cursor_of: Callable[[Row], object]
) -> tuple[list[Row], str | None]:
    """A page out of rows read with ``limit + 1``: the first ``limit`` rows, and the cursor of
    the next page (the key of the last row returned), or None at the end."""
    assert limit > 0
    more = len(rows) > limit
    kept = list(rows[:limit])
    return kept, str(cursor_of(kept[-1])) if more and kept else None
