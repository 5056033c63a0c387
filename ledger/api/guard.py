"""The body guard: an ASGI middleware every request passes before any route reads its body.

In this order, each refusal in the one error shape: a declared ``Content-Length`` over the
route's cap is a 413 before a byte is read; an operator route without a valid token is a 401
before a byte is read (a 99 MB body without a token is never parsed); the body is then read
counting bytes (a chunked body past the cap is a 413 as soon as it crosses it); a body that is
not JSON is a 415; a JSON body is parsed once, strictly (400 ``invalid_json``,
``duplicate_key``, ``too_deep``), and the parsed value is handed on in the ASGI scope
(:data:`PARSED_JSON`) for routes that read raw bodies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from ledger.api.errors import status_of
from ledger.kit.errors import ErrorKind, Malformed, SwarmError, TooLarge
from ledger.kit.http import PARSED_JSON, check_operator, parse_json_body, require_operator
from ledger.kit.limits import MAX_BODY_BYTES, OUTAGE_RETRY_AFTER_S

#: Methods whose body the guard parses.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json_media(content_type: str | None) -> bool:
    """True for no content type (read as JSON, as FastAPI does), application/json and
    application/*+json (any parameters)."""
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def needs_operator(route: APIRoute) -> bool:
    """Whether the route depends on the operator check (declared once, on the route)."""
    return any(d.call is require_operator for d in route.dependant.dependencies)


class BodyGuard:
    """Cap, authenticate and parse request bodies before any route sees them."""

    def __init__(self, app: ASGIApp, caps: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.caps = dict(caps or {})  # path -> largest body; MAX_BODY_BYTES otherwise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._admit(scope, receive)
        except SwarmError as exc:
            status = status_of(exc)
            headers = {"Retry-After": str(OUTAGE_RETRY_AFTER_S)} if status == 503 else None
            response = JSONResponse(exc.to_dict(), status_code=status, headers=headers)
            await response(scope, receive, send)
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        replayed = False

        async def replay() -> AsgiMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _admit(self, scope: Scope, receive: Receive) -> bytes | None:
        """Check one request; returns its body (already read) or None if it has none."""
        headers = Headers(scope=scope)
        cap = self.caps.get(scope["path"], MAX_BODY_BYTES)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise Malformed(
                    "content-length: not a byte count",
                    field="content-length",
                    code="invalid_content_length",
                )
            if int(declared) > cap:
                raise _too_large(cap)
        route = _route_of(scope)
        if route is not None and route.operator:
            runtime = scope["app"].state.runtime
            check_operator(runtime.settings.operator_token, headers.get("authorization"))
        if scope["method"] not in BODY_METHODS:
            return None
        body = await _read_capped(receive, cap)
        if body and route is not None and route.has_body:
            if not is_json_media(headers.get("content-type")):
                raise SwarmError(
                    "content-type: send application/json",
                    field="content-type",
                    code="unsupported_media_type",
                    kind=ErrorKind.UNSUPPORTED_MEDIA,
                )
            scope[PARSED_JSON] = parse_json_body(body)
        return body


def _too_large(cap: int) -> TooLarge:
    return TooLarge(f"body: larger than {cap} bytes", field="body", code="body_too_large")


@dataclass(frozen=True, slots=True)
class GuardedRoute:
    """What the guard needs of one API route."""

    pattern: re.Pattern[str]
    methods: frozenset[str]
    operator: bool
    has_body: bool


def route_table(app: Any) -> list[GuardedRoute]:
    """Every API route of the app (built once per app: routes are fixed after create_app)."""
    table: list[GuardedRoute] | None = getattr(app.state, "guard_routes", None)
    if table is None:
        table = []
        for ctx in iter_route_contexts(app.router.routes):
            route = ctx.original_route
            if isinstance(route, APIRoute) and ctx.path:
                pattern, _, _ = compile_path(ctx.path)
                table.append(
                    GuardedRoute(
                        pattern, frozenset(route.methods or ()), needs_operator(route),
                        route.body_field is not None or bool(route.openapi_extra),
                    )
                )  # fmt: skip
        app.state.guard_routes = table
    return table


def _route_of(scope: Scope) -> GuardedRoute | None:
    """The API route this request will reach, or None (a 404 or 405 answered later)."""
    path, method = scope["path"], scope["method"]
    for route in route_table(scope["app"]):
        if method in route.methods and route.pattern.match(path):
            return route
    return None


async def _read_capped(receive: Receive, cap: int) -> bytes:
    """The whole body, counting bytes as they arrive: past ``cap`` it stops reading."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _too_large(cap)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
