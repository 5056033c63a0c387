"""What every router shares: operator authentication and cursor pagination.

Operator authentication guards the write routes (a bearer token from the deployment).
Pagination is keyset pagination: a page is read with ``limit + 1`` rows after the cursor, and the
extra row only says whether there is a next page.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import TypeVar

from fastapi import Request

from ledger.kit.errors import Malformed, Unauthorized, Unavailable
from ledger.kit.limits import MAX_INT64

Row = TypeVar("Row")

#: Decimal digits of the largest cursor (MAX_INT64 has 19).
MAX_CURSOR_DIGITS = len(str(MAX_INT64))
assert MAX_CURSOR_DIGITS == 19


def require_operator(request: Request) -> None:
    """Refuse unless ``Authorization: Bearer <SWARM_OPERATOR_TOKEN>`` matches."""
    token = request.app.state.runtime.settings.operator_token
    if not token:
        raise Unavailable(
            "registry writes are disabled: set SWARM_OPERATOR_TOKEN", code="writes_disabled"
        )
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Unauthorized(
            "authorization: a valid operator bearer token is required",
            field="authorization",
            code="unauthorized",
        )


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
