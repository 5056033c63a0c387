"""One error model for the whole service: a stable code, the field at fault, a message.

Every expected, explainable failure is a :class:`SwarmError`. Its :class:`ErrorKind` says what
sort of failure it is (bad input, not found, a state conflict, an outage, ...); the API turns the
kind into an HTTP status with one table (``ledger.api.errors.HTTP_STATUS``), so the same error
answers the same status on every route. Domains raise these too (this module is pure).

The message starts with the field it names (``"amount: must be positive"``), so a person reading
only the message still knows which input to fix.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar


class ErrorKind(enum.StrEnum):
    """What sort of failure an error is; the API maps each to one HTTP status."""

    MALFORMED = "malformed"  # the request cannot be read (bad JSON, wrong shape)
    INVALID = "invalid"  # well-formed but refused by a rule (a field out of range, ...)
    UNAUTHORIZED = "unauthorized"  # no valid credentials
    FORBIDDEN = "forbidden"  # valid credentials, not allowed
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # same key with other content, or a state that forbids the action
    TOO_LARGE = "too_large"  # a body or batch over its limit
    UNSUPPORTED_MEDIA = "unsupported_media"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"  # a dependency is down or a capability is switched off


class SwarmError(Exception):
    """Base of every expected failure: ``code`` (stable, machine-readable), ``field`` (the input
    at fault, dotted, or None), ``message`` (for people) and optional ``details``.

    Subclasses fix the kind; ``kind=`` overrides it for one code (a domain error class whose
    codes are mostly bad input but where one code is a state conflict).
    """

    kind: ClassVar[ErrorKind] = ErrorKind.INVALID
    default_code: ClassVar[str] = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        details: Mapping[str, Any] | None = None,
        kind: ErrorKind | None = None,
    ) -> None:
        if field and not message.startswith(f"{field}:"):
            message = f"{field}: {message}"
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.details: dict[str, Any] = dict(details or {})
        if kind is not None:
            self.error_kind = kind
        else:
            self.error_kind = type(self).kind
        assert self.code and self.code.isidentifier(), self.code

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error: ``{"error": {code, message, field?, details?}}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return {"error": body}


class Malformed(SwarmError):
    kind = ErrorKind.MALFORMED
    default_code = "malformed_request"


class InvalidInput(SwarmError):
    """Well-formed but refused by a rule (limits, ranges, unknown names, ...)."""

    kind = ErrorKind.INVALID
    default_code = "invalid_request"


class Unauthorized(SwarmError):
    kind = ErrorKind.UNAUTHORIZED
    default_code = "unauthorized"


class Forbidden(SwarmError):
    kind = ErrorKind.FORBIDDEN
    default_code = "forbidden"


class NotFound(SwarmError):
    kind = ErrorKind.NOT_FOUND
    default_code = "not_found"


class Conflict(SwarmError):
    """Same idempotency key, different content; or a state that forbids the action."""

    kind = ErrorKind.CONFLICT
    default_code = "conflict"


class TooLarge(SwarmError):
    kind = ErrorKind.TOO_LARGE
    default_code = "too_large"


class RateLimited(SwarmError):
    kind = ErrorKind.RATE_LIMITED
    default_code = "rate_limited"


class Unavailable(SwarmError):
    kind = ErrorKind.UNAVAILABLE
    default_code = "unavailable"
