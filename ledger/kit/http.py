"""Operator authentication for registry writes (a bearer token from the deployment)."""

from __future__ import annotations

import hmac

from fastapi import Request

from ledger.kit.errors import Unauthorized, Unavailable


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
