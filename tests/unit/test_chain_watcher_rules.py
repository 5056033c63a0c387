"""The chain watcher's and the reconciler's pure rules: finality bound, ranges, event
arguments as JSON, lock tiers, drifts, and the gap between the cursor and the head."""

from __future__ import annotations

import pytest

from ledger.params.domain import DEFAULT_PARAMS
from ledger.settlement.reconcile import Drift, differences, pending_deltas
from ledger.settlement.watcher import (
    ChainEvent,
    final_block,
    lock_tier_name,
    next_range,
    plain,
)

A = "0x" + "ab" * 20


def test_final_block_is_the_tag_or_head_less_confirmations() -> None:
    assert final_block(200, 136, 12) == 136
    assert final_block(200, 250, 12) == 200  # never past the head
    assert final_block(200, None, 12) == 189  # the including block counts as the first
    assert final_block(200, None, 1) == 200
    assert final_block(5, None, 12) == -6  # nothing final yet
    assert final_block(5, None, 0) == 5  # zero confirmations means one


def test_ranges_start_after_the_cursor_and_are_bounded() -> None:
    assert next_range(None, 10, 5) is None  # nothing final past the start block
    assert next_range(None, 10, 10) == (10, 10)
    assert next_range(None, 0, 5_000) == (0, 1_999)
    assert next_range(1_999, 0, 5_000) == (2_000, 3_999)
    assert next_range(3_999, 0, 5_000) == (4_000, 5_000)
    assert next_range(5_000, 0, 5_000) is None
    assert next_range(7, 0, 100, size=10) == (8, 17)


def test_event_arguments_become_plain_json() -> None:
    assert plain(10**30) == str(10**30)
    assert plain(b"\x01\x02") == "0x0102"
    assert plain(A.upper().replace("0X", "0x")) == A  # addresses in lower case
    assert plain("0xABC") == "0xABC"  # not an address: left alone
    assert plain(True) is True
    assert plain([1, b"\xff"]) == ["1", "0xff"]
    with pytest.raises(TypeError):
        plain(1.5)


def test_lock_tiers_map_by_exact_days() -> None:
    assert lock_tier_name(0, DEFAULT_PARAMS) == "flexible"
    assert lock_tier_name(30, DEFAULT_PARAMS) == "30d"
    assert lock_tier_name(365, DEFAULT_PARAMS) == "365d"
    assert lock_tier_name(31, DEFAULT_PARAMS) is None


def test_differences_name_every_key_that_differs() -> None:
    assert differences("c", "s", {"a": 1, "b": 2}, {"a": 1, "b": 2}) == []
    assert differences("c", "s", {"a": 1, "b": 2}, {"b": 3, "c": 4}) == [
        Drift("c", "s", "a", "1", "0"),
        Drift("c", "s", "b", "2", "3"),
        Drift("c", "s", "c", "0", "4"),
    ]
    assert differences("c", "s", {"a": 0}, {}) == []  # zero is no drift


def _ev(event: str, **args: str) -> ChainEvent:
    return ChainEvent("vault", event, "0x" + "00" * 32, 0, 1, "0x" + "11" * 32, args)


def test_pending_events_bridge_bonded_and_claimed() -> None:
    bonded, claimed = pending_deltas([
        _ev("Staked", provider=A, amount="100"),
        _ev("UnstakeRequested", provider=A, amount="30", entryId="0"),
        _ev("Slashed", provider=A, slashId="0x" + "22" * 32, fromBonded="5", fromUnbonding="1"),
        _ev("Withdrawn", provider=A, amount="30", entryId="0"),
        _ev("Claimed", account=A, amount="7"),
        _ev("RootPosted", epoch="3"),
    ])  # fmt: skip
    assert bonded == {A: 65}
    assert claimed == {A: 7}
