"""The one place where errors become HTTP responses: JSON with a stable code, never a trace.

Also what each error status means, for the OpenAPI document (``ledger.api.openapi``); the
error schema itself, :class:`ledger.kit.http.ErrorOut`, is shared with the routers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.kit.errors import ErrorKind, SwarmError
from ledger.kit.limits import OUTAGE_LOG_INTERVAL_S, OUTAGE_RETRY_AFTER_S

log = logging.getLogger(__name__)

#: The one table from an error's kind to its HTTP status: every SwarmError on every route
#: answers the status of its kind.
HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.MALFORMED: 400,
    ErrorKind.INVALID: 422,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA: 415,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
}
assert set(HTTP_STATUS) == set(ErrorKind), "every error kind has a status"

#: Exceptions that mean a dependency is down (not that the request is wrong): 503.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # the pool waited too long for a connection
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)
#: The database refused a value (NUL in text, a number past its column, ...): input types
#: should have caught it first; this is the safety net that keeps it a 4xx.
DATABASE_REFUSED_VALUE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.DataError,
    psycopg.DataError,
)


def status_of(exc: SwarmError) -> int:
    """The HTTP status of an error (from its kind)."""
    return HTTP_STATUS[exc.error_kind]


_DESCRIPTIONS = {
    400: "malformed request (invalid_json, duplicate_key, too_deep, invalid_cursor, ...)",
    401: "no valid operator bearer token",
    403: "not allowed",
    404: "not found",
    405: "method not allowed",
    409: "conflict: same idempotency key with other content, or a state that forbids it",
    413: "body larger than the route's cap",
    415: "content type is not application/json",
    422: "a field is refused (the error names it)",
    429: "rate limited (see Retry-After)",
    503: "a dependency is down or writes are disabled (see Retry-After)",
}


def error_description(status: int) -> str:
    """What an error status means on this API (for the OpenAPI document)."""
    return _DESCRIPTIONS[status]


class _OutageLog:
    """One log line per dependency and interval while it is down, never a traceback each."""

    def __init__(self) -> None:
        self.last_logged: dict[str, float] = {}

    def note(self, dependency: str, exc: Exception) -> None:
        now = time.monotonic()
        last = self.last_logged.get(dependency)
        if last is None or now - last >= OUTAGE_LOG_INTERVAL_S:
            self.last_logged[dependency] = now
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            log.warning(
                "%s unavailable (%s: %s); answering 503 until it is back",
                dependency, type(exc).__name__, reason,
            )  # fmt: skip


def _field_of(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def _validation_body(exc: RequestValidationError) -> tuple[dict[str, Any], int]:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":  # the guard parses first; kept as a backstop
        return {
            "error": {"code": "invalid_json", "message": "body: not JSON", "field": "body"}
        }, 400
    field = _field_of(tuple(first.get("loc", ())))
    body = {
        "error": {
            "code": "invalid_request",
            "message": f"{field}: {first.get('msg', 'invalid')}",
            "field": field,
            "details": {
                "errors": [
                    {"field": _field_of(tuple(e.get("loc", ()))), "message": e.get("msg")}
                    for e in errors[:20]
                ]
            },
        }
    }
    return body, 422


def install_error_handlers(app: FastAPI) -> None:
    outages = _OutageLog()
    retry = {"Retry-After": str(OUTAGE_RETRY_AFTER_S)}

    @app.exception_handler(SwarmError)
    async def _service_error(_req: Request, exc: SwarmError) -> JSONResponse:
        status = status_of(exc)
        headers = retry if status == 503 else None
        return JSONResponse(exc.to_dict(), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        body, status = _validation_body(exc)
        return JSONResponse(body, status_code=status)

    def _unavailable(dependency: str, code: str, exc: Exception) -> JSONResponse:
        outages.note(dependency, exc)
        return JSONResponse(
            {"error": {"code": code, "message": f"{dependency} is unavailable; retry shortly"}},
            status_code=503,
            headers=retry,
        )

    for cls in DATABASE_DOWN:

        @app.exception_handler(cls)
        async def _database_down(_req: Request, exc: Exception) -> JSONResponse:
            return _unavailable("database", "database_unavailable", exc)

    for cls in REDIS_DOWN:

        @app.exception_handler(cls)
        async def _redis_down(_req: Request, exc: Exception) -> JSONResponse:
            return _unavailable("redis", "redis_unavailable", exc)

    for cls in DATABASE_REFUSED_VALUE:

        @app.exception_handler(cls)
        async def _refused_value(_req: Request, exc: Exception) -> JSONResponse:
            log.warning("database refused a value the input types let through: %s", exc)
            return JSONResponse(
                {"error": {"code": "invalid_value", "message": "request: a value is refused"}},
                status_code=422,
            )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            {"error": {"code": "internal_error", "message": "internal error; see server logs"}},
            status_code=500,
        )
