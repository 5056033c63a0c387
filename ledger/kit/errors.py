"""One error hierarchy for the service: a stable code, an HTTP status, the field at fault.

The API renders every one of these with a single handler; nothing else decides a status code.
"""

from __future__ import annotations

from typing import Any


class LedgerServiceError(Exception):
    """Base of every expected, explainable failure."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.field = field
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return {"error": body}


class NotFound(LedgerServiceError):
    status_code = 404
    code = "not_found"


class Conflict(LedgerServiceError):
    """Same idempotency key, different content; or a state that forbids the action."""

    status_code = 409
    code = "conflict"


class Unprocessable(LedgerServiceError):
    """Well-formed but refused by a ledger rule (limits, unknown account, ...)."""

    status_code = 422
    code = "unprocessable"


class ServiceUnavailable(LedgerServiceError):
    status_code = 503
    code = "unavailable"
