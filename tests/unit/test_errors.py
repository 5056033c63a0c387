"""The one error model: a kind per error, one status per kind, the field in the message."""

from __future__ import annotations

import pytest

from ledger.accounting.domain.transfers import TransferConflict, TransferError
from ledger.api.errors import HTTP_STATUS, status_of
from ledger.kit.errors import (
    Conflict,
    ErrorKind,
    InvalidInput,
    Malformed,
    NotFound,
    SwarmError,
    Unavailable,
)
from ledger.kit.money import AmountError, parse_base_units
from ledger.slashing.domain import SlashingError


def test_every_kind_has_one_status() -> None:
    assert set(HTTP_STATUS) == set(ErrorKind)
    assert HTTP_STATUS[ErrorKind.INVALID] == 422 and HTTP_STATUS[ErrorKind.CONFLICT] == 409
    assert len(set(HTTP_STATUS.values())) == len(HTTP_STATUS)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (Malformed("x"), 400),
        (InvalidInput("x"), 422),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (Unavailable("x"), 503),
        (SlashingError("bad", code="unknown_vote", field="vote"), 422),
        (SlashingError("late", code="appeal_not_allowed", kind=ErrorKind.CONFLICT), 409),
    ],
)
def test_status_comes_from_the_kind(exc: SwarmError, status: int) -> None:
    assert status_of(exc) == status


def test_message_starts_with_the_field_once() -> None:
    assert InvalidInput("must be positive", field="amount").message == "amount: must be positive"
    assert InvalidInput("amount: must be positive", field="amount").message == (
        "amount: must be positive"
    )
    body = InvalidInput("nope", code="rule_x", field="a.b").to_dict()
    assert body == {"error": {"code": "rule_x", "message": "a.b: nope", "field": "a.b"}}


def test_domain_errors_are_swarm_errors_and_value_errors() -> None:
    with pytest.raises(AmountError) as ei:
        parse_base_units("-1", "amount_base_units")
    assert isinstance(ei.value, SwarmError) and isinstance(ei.value, ValueError)
    assert ei.value.code == "amount_negative" and ei.value.field == "amount_base_units"
    assert status_of(ei.value) == 422


def test_transfer_error_of_a_conflict_code_is_a_conflict() -> None:
    err = TransferError("t", code="exists_with_different_amount", details={"index": 3})
    assert isinstance(err, TransferConflict) and isinstance(err, Conflict)
    assert status_of(err) == 409 and err.index == 3
    other = TransferError("t", code="exceeds_credits")
    assert not isinstance(other, Conflict) and status_of(other) == 422
