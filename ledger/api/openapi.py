"""The OpenAPI document, completed so it tells the truth about errors.

FastAPI documents 200 and its own 422 shape; this service answers every error in one shape
(:class:`ledger.api.errors.ErrorOut`) and can answer 400 / 413 (body guard), 401 (operator
routes), 404, 409 (writes), 415 (bodies), 422 and 503 (outages). Each operation gets the
statuses it can answer, each with the error schema. The operator bearer scheme is declared by
``ledger.kit.http.operator_bearer`` and referenced by every route that depends on it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ledger.api.errors import error_description
from ledger.kit.http import ErrorOut

WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer."""
    statuses = {400, 413, 503}
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(422)
    if "{" in path:
        statuses.add(404)
    if operation.get("requestBody"):
        statuses.add(415)
    if operation.get("security"):
        statuses |= {401, 403}  # 403: authenticated, not allowed (a vote by a non-governor)
    if method in WRITE_METHODS:
        statuses.add(409)
    return statuses


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the error schema and every operation's error statuses to a generated document."""
    schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.pop("$defs", {}))
    schemas["ErrorOut"] = schema
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(path, method, operation)):
                if str(status) in responses and status != 422:
                    continue  # documented by the route itself (healthz's 503 shape)
                responses[str(status)] = {
                    "description": error_description(status),
                    "content": {"application/json": {"schema": _ERROR_REF}},
                }
    # FastAPI's own validation shapes are never answered (422 uses the error schema).
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
