"""The one place where errors become HTTP responses: JSON with a stable code, never a trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.kit.errors import ErrorKind, SwarmError

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


def status_of(exc: SwarmError) -> int:
    """The HTTP status of an error (from its kind)."""
    return HTTP_STATUS[exc.error_kind]


def _field_of(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SwarmError)
    async def _service_error(_req: Request, exc: SwarmError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
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
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            {"error": {"code": "internal_error", "message": "internal error; see server logs"}},
            status_code=500,
        )
