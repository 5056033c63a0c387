"""Operator authentication for registry writes (a bearer token from the deployment)."""

from __future__ import annotations

import hmac

from fastapi import Request

from ledger.kit.errors import LedgerServiceError


def require_operator(request: Request) -> None:
    """Refuse unless ``Authorization: Bearer <SWARM_OPERATOR_TOKEN>`` matches."""
    token = request.app.state.runtime.settings.operator_token
    if not token:
        raise LedgerServiceError(
            "registry writes are disabled: set SWARM_OPERATOR_TOKEN", code="writes_disabled",
            status_code=503,
        )  # fmt: skip
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise LedgerServiceError(
            "authorization: a valid operator bearer token is required", field="authorization",
            code="unauthorized", status_code=401,
        )  # fmt: skip
