"""The stake rules (SPEC 5/6, issue 15 point 11) against a simple reference written from the
spec: the stake at risk of an infraction, bonded stake charged before unbonding stake, and the
production functions over ledger balances and unbonding entries agreeing with the lot model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.kit.money import PPM
from ledger.staking.domain import (
    StakeLot,
    UnbondingEntry,
    _tie_key,
    apply_slash_to_lots,
    charge_stake,
    entry_remaining,
    stake_at_risk,
    stake_at_risk_base_units,
)
from ledger.staking.domain.lifecycle import (
    ENTRY_HOLD,
    ENTRY_HOLD_VOIDED,
    ENTRY_REFUND,
    ENTRY_WITHDRAW,
)
from tests.property.strategies import lots as shared_lots

PROVIDER = "0x" + "ab" * 20


def lots() -> st.SearchStrategy[StakeLot]:
    return shared_lots(max_amount=10**6, ids=("", "a", "b", "c", "d"))


def reference_at_risk(lot: StakeLot, t: int, as_of: int) -> bool:
    """SPEC 5/6 read literally: backing the node just before t, still in the vault at as_of."""
    bonded_before = lot.bonded_at_s < t
    unbonded_before = lot.unbonding_requested_at_s is not None and lot.unbonding_requested_at_s < t
    gone = lot.withdrawn_at_s is not None and lot.withdrawn_at_s <= as_of
    return bonded_before and not unbonded_before and not gone


@settings(max_examples=400, deadline=None)
@given(
    lot_list=st.lists(lots(), max_size=10),
    t=st.integers(min_value=0, max_value=2_500),
    later=st.integers(min_value=0, max_value=2_500),
)
def test_stake_at_risk_matches_the_reference(lot_list: list[StakeLot], t: int, later: int) -> None:
    for as_of in (t, t + later):
        want = sum(x.amount_base_units for x in lot_list if reference_at_risk(x, t, as_of))
        assert stake_at_risk(lot_list, t, as_of_s=as_of) == want
    # Production's form: the signed bonded movements booked before t.
    movements: list[tuple[float, int]] = []
    for x in lot_list:
        movements.append((x.bonded_at_s, x.amount_base_units))
        if x.unbonding_requested_at_s is not None:
            movements.append((x.unbonding_requested_at_s, -x.amount_base_units))
    at_t = sum(x.amount_base_units for x in lot_list if reference_at_risk(x, t, t - 1))
    assert stake_at_risk_base_units(movements, t) == at_t


@settings(max_examples=400, deadline=None)
@given(
    lot_list=st.lists(lots(), max_size=10),
    t=st.integers(min_value=0, max_value=2_500),
    later=st.integers(min_value=0, max_value=2_500),
    ppm=st.integers(min_value=0, max_value=PPM),
)
def test_bonded_first_then_unbonding_oldest_first(
    lot_list: list[StakeLot], t: int, later: int, ppm: int
) -> None:
    as_of = t + later
    bonded = [
        x
        for x in lot_list
        if x.bonded_at_s < as_of
        and (x.unbonding_requested_at_s is None or x.unbonding_requested_at_s >= as_of)
    ]
    unbonding = [
        x
        for x in lot_list
        if x not in bonded
        and x.unbonding_requested_at_s is not None
        and reference_at_risk(x, t, as_of)
    ]
    payable = sum(x.amount_base_units for x in bonded + unbonding)
    slash = payable * ppm // PPM
    paid = apply_slash_to_lots(lot_list, slash, t, as_of_s=as_of)
    assert sum(a for _, a in paid) == slash
    for lot, a in paid:
        assert 0 < a <= lot.amount_base_units
    bonded_total = sum(x.amount_base_units for x in bonded)
    from_bonded = sum(a for x, a in paid if x in bonded)
    # Bonded stake pays first: unbonding lots pay only once bonded stake is exhausted.
    assert from_bonded == min(slash, bonded_total)
    # The production function over balances and entries charges the same amounts.
    # (Entries named in the lot model's order of equal request times, so both orders agree.)
    order = sorted(
        range(len(unbonding)),
        key=lambda i: (unbonding[i].unbonding_requested_at_s, _tie_key(unbonding[i]), i),
    )
    entries = [
        UnbondingEntry(
            f"e{rank:03d}",
            unbonding[i].unbonding_requested_at_s or 0,
            0,
            unbonding[i].amount_base_units,
        )
        for rank, i in enumerate(order)
    ]
    charge = charge_stake(slash, bonded_total, entries, t)
    assert charge.from_bonded_base_units == from_bonded and charge.uncollected_base_units == 0
    from_lots = sorted((a for x, a in paid if x not in bonded), reverse=True)
    assert sorted((a for _, a in charge.from_entries), reverse=True) == from_lots


@settings(max_examples=400, deadline=None)
@given(
    amount=st.integers(min_value=0, max_value=10**6),
    bonded=st.integers(min_value=0, max_value=10**6),
    entries=st.lists(
        st.tuples(st.integers(min_value=0, max_value=100), st.integers(0, 10**5)), max_size=8
    ),
    t=st.integers(min_value=0, max_value=100),
)
def test_charge_stake_exact_and_never_touches_entries_before_the_infraction(
    amount: int, bonded: int, entries: list[tuple[int, int]], t: int
) -> None:
    es = [UnbondingEntry(f"u{i}", at, at + 10, left) for i, (at, left) in enumerate(entries)]
    c = charge_stake(amount, bonded, es, t)
    assert c.total_base_units == amount
    by_id = {e.entry_id: e for e in es}
    for eid, taken in c.from_entries:
        assert by_id[eid].requested_at_s >= t and 0 < taken <= by_id[eid].remaining_base_units
    eligible = sum(e.remaining_base_units for e in es if e.requested_at_s >= t)
    assert c.uncollected_base_units == max(0, amount - bonded - eligible)


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(min_value=0, max_value=10**6),
    ops=st.lists(
        st.tuples(st.sampled_from(["hold", "void", "execute", "refund"]), st.integers(0, 10**6)),
        max_size=10,
    ),
)
def test_entry_remaining_after_holds_voids_refunds_and_a_withdrawal(
    amount: int, ops: list[tuple[str, int]]
) -> None:
    """A simple model: holds take, a void gives its hold back, a refund gives an executed hold
    back; the withdrawal pays what is left, after which the entry is empty."""
    moves: list[tuple[str, int]] = []
    left = amount
    open_holds: list[int] = []
    executed: list[int] = []
    for op, x in ops:
        if op == "hold" and x <= left:
            moves.append((ENTRY_HOLD, x))
            left -= x
            open_holds.append(x)
        elif op == "void" and open_holds:
            h = open_holds.pop()
            moves.append((ENTRY_HOLD_VOIDED, h))
            left += h
        elif op == "execute" and open_holds:
            executed.append(open_holds.pop())
        elif op == "refund" and executed:
            h = executed.pop()
            moves.append((ENTRY_REFUND, h))
            left += h
        assert entry_remaining(amount, moves) == left
    moves.append((ENTRY_WITHDRAW, left))
    assert entry_remaining(amount, moves) == 0
