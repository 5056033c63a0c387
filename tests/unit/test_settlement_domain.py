"""The pure rules of settlement: fees within the cap, replacements that nodes accept, finality,
an item's status from its transactions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.settlement.domain import (
    FeePolicy,
    Fees,
    ItemStatus,
    TxStatus,
    bytes32,
    calculator_version_number,
    is_final,
    item_status,
)

GWEI = 10**9


def test_initial_fees_are_twice_the_base_fee_plus_the_tip_within_the_cap() -> None:
    policy = FeePolicy(cap_wei=100 * GWEI, priority_wei=GWEI)
    assert policy.initial(10 * GWEI) == Fees(21 * GWEI, GWEI)
    assert policy.initial(60 * GWEI) == Fees(100 * GWEI, GWEI)  # capped
    assert policy.initial(100 * GWEI) is None  # base fee + tip above the cap: wait


@given(
    fee=st.integers(1, 10**12),
    tip=st.integers(0, 10**11),
    base=st.integers(0, 10**12),
    cap=st.integers(1, 10**13),
)
def test_a_replacement_bumps_both_fees_by_at_least_an_eighth_or_waits(
    fee: int, tip: int, base: int, cap: int
) -> None:
    tip = min(tip, fee)
    new = FeePolicy(cap, tip).replacement(Fees(fee, tip), base)
    if new is None:
        return
    assert new.max_fee_per_gas <= cap
    assert new.max_fee_per_gas * 8 >= fee * 9 and new.max_priority_fee_per_gas * 8 >= tip * 9
    assert new.max_priority_fee_per_gas <= new.max_fee_per_gas


def test_a_replacement_the_cap_has_no_room_for_waits() -> None:
    assert FeePolicy(100 * GWEI, GWEI).replacement(Fees(95 * GWEI, GWEI), GWEI) is None


def test_final_at_the_finalized_tag_else_after_confirmations() -> None:
    assert is_final(100, head=200, finalized=100, confirmations=12)
    assert not is_final(101, head=200, finalized=100, confirmations=12)
    assert is_final(100, head=111, finalized=None, confirmations=12)
    assert not is_final(100, head=110, finalized=None, confirmations=12)


@pytest.mark.parametrize(
    ("statuses", "want"),
    [
        ([], ItemStatus.QUEUED),
        ([TxStatus.SIGNED], ItemStatus.SUBMITTED),
        ([TxStatus.SEND_FAILED], ItemStatus.SUBMITTED),
        ([TxStatus.REPLACED, TxStatus.INCLUDED], ItemStatus.INCLUDED),
        ([TxStatus.REPLACED, TxStatus.FINAL], ItemStatus.FINAL),
        ([TxStatus.REPLACED], ItemStatus.QUEUED),
        ([TxStatus.FAILED], ItemStatus.FAILED),
        ([TxStatus.REORGED], ItemStatus.SUBMITTED),
    ],
)
def test_an_items_status_comes_from_its_transactions(
    statuses: list[TxStatus], want: ItemStatus
) -> None:
    assert item_status(statuses) == want


def test_calculator_versions_and_bytes32() -> None:
    assert calculator_version_number("rewards-v1") == 1
    with pytest.raises(ValueError):
        calculator_version_number("v1.2")
    assert bytes32("0x" + "ab" * 32) == b"\xab" * 32
    with pytest.raises(ValueError):
        bytes32("0xabcd")
