"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from ledger.staking.domain import StakeLot, request_unbond, withdraw

PROVIDER = "0x" + "ab" * 20


@st.composite
def lots(
    draw: st.DrawFn, max_amount: int = 10**24, ids: Sequence[str] = ("", "a", "b", "c")
) -> StakeLot:
    """A stake lot bonded, unbonding or withdrawn, at random times."""
    bonded = draw(st.integers(min_value=0, max_value=1_000))
    lot = StakeLot(
        provider_id=PROVIDER,
        amount_base_units=draw(st.integers(min_value=0, max_value=max_amount)),
        lock_tier="flexible",
        bonded_at_s=bonded,
        lot_id=draw(st.sampled_from(list(ids))),
    )
    stage = draw(st.sampled_from(["bonded", "unbonding", "withdrawn"]))
    if stage == "bonded":
        return lot
    requested = bonded + draw(st.integers(min_value=0, max_value=1_000))
    lot = request_unbond(lot, requested, draw(st.integers(min_value=0, max_value=500)))
    if stage == "unbonding":
        return lot
    assert lot.withdrawable_at_s is not None
    return withdraw(lot, lot.withdrawable_at_s + draw(st.integers(min_value=0, max_value=500)))
