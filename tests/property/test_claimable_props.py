"""Claimable rewards under random epochs, offences, holds, voids and executions (SPEC 4.7).

A small model of one provider's reward accounts drives the pure maturity rule: rewards are
credited to ``accrued``; holds (rewards-first slashing) reserve part of ``accrued``; a void
releases a hold, an execution takes it; each close moves what has matured to ``claimable``.
The named invariants: a leaf never decreases, no base unit held or slashed is ever claimable,
and every base unit is accounted for exactly once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.rewards.domain import MaturityFacts, last_matured_epoch, maturing_amount

LAG = 3  # epochs of maturity


@dataclass
class Accounts:
    credits_by_epoch: dict[int, int] = field(default_factory=dict)
    holds: list[int] = field(default_factory=list)  # pending amounts
    executed: int = 0
    claimable: int = 0  # cumulative: credits of the claimable account

    @property
    def credited(self) -> int:
        return sum(self.credits_by_epoch.values())

    @property
    def accrued_available(self) -> int:
        return self.credited - self.executed - self.claimable - sum(self.holds)


events = st.lists(
    st.tuples(
        st.integers(0, 10**6),  # this epoch's reward
        st.lists(st.sampled_from(["hold", "void", "execute"]), max_size=3),
        st.integers(0, 10**6),  # size of a new hold
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(events)
def test_leaves_never_decrease_and_never_hold_a_held_or_slashed_unit(evs) -> None:  # type: ignore[no-untyped-def]
    acc = Accounts()
    leaves = []
    for epoch, (reward, actions, size) in enumerate(evs):
        acc.credits_by_epoch[epoch] = reward
        for action in actions:
            if action == "hold" and acc.accrued_available > 0:
                acc.holds.append(min(size, acc.accrued_available))
            elif action == "void" and acc.holds:
                acc.holds.pop()
            elif action == "execute" and acc.holds:
                acc.executed += acc.holds.pop(0)
        matured_to = last_matured_epoch(epoch, 60, LAG * 60)
        facts = MaturityFacts(
            matured_credits=sum(a for e, a in acc.credits_by_epoch.items() if e <= matured_to),
            already_claimable=acc.claimable,
            accrued_available=acc.accrued_available,
        )
        acc.claimable += maturing_amount(facts)
        leaves.append(acc.claimable)
        # No held or slashed base unit is claimable; every unit is in exactly one place.
        assert acc.claimable <= acc.credited - acc.executed - sum(acc.holds)
        assert acc.accrued_available >= 0
        assert acc.claimable + acc.executed + sum(acc.holds) + acc.accrued_available == (
            acc.credited
        )
        # Nothing matures early.
        assert acc.claimable <= facts.matured_credits
    assert all(a <= b for a, b in itertools.pairwise(leaves)), leaves


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=20))
def test_without_slashing_every_reward_matures_after_the_lag(rewards: list[int]) -> None:
    acc = Accounts()
    for epoch, reward in enumerate([*rewards, *([0] * LAG)]):
        acc.credits_by_epoch[epoch] = reward
        matured_to = last_matured_epoch(epoch, 60, LAG * 60)
        facts = MaturityFacts(
            sum(a for e, a in acc.credits_by_epoch.items() if e <= matured_to),
            acc.claimable,
            acc.accrued_available,
        )
        acc.claimable += maturing_amount(facts)
    assert acc.claimable == sum(rewards)


def test_last_matured_epoch_rounds_the_lag_up() -> None:
    assert last_matured_epoch(100, 3600, 50 * 3600) == 50
    assert last_matured_epoch(100, 3600, 50 * 3600 + 1) == 49
    assert last_matured_epoch(100, 60, 0) == 100
