"""Hypothesis drives the real contracts (eth-tester and anvil) against a small Python model.

Vault: random sequences of stake / requestUnstake / slash / withdraw / time passing keep
``token.balanceOf(vault) == totalBonded + totalUnbonding == sum(bonded) + sum(unbonding left)``
and match the model's bonded stake and entries (bonded first, then entries requested at or after
the infraction, oldest first: the ledger's own ``charge_stake`` is the model). Distributor:
random non-decreasing cumulative roots and claims against random epochs never pay an account
more than its latest cumulative amount.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.chain.contracts import SlashItem
from ledger.rewards.domain.merkle import build_tree
from ledger.staking.domain.lifecycle import UnbondingEntry, charge_stake
from tests.contracts.conftest import UNBONDING, _Backend
from tests.contracts.helpers import block_ts

N_PROVIDERS = 3
SETTINGS = settings(
    max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip

amounts = st.integers(min_value=1, max_value=1_000)
who = st.integers(min_value=0, max_value=N_PROVIDERS - 1)
vault_op = st.one_of(
    st.tuples(st.just("stake"), who, amounts),
    st.tuples(st.just("unstake"), who, amounts),
    st.tuples(st.just("slash"), who, st.integers(0, 3_000), st.integers(0, 50)),
    st.tuples(st.just("withdraw"), who, st.integers(0, 5)),
    st.tuples(st.just("wait"), st.sampled_from([1, 5, 3_600, UNBONDING + 1])),
)


@dataclass
class Entry:
    provider: int
    requested_at: int
    amount: int
    release_at: int
    withdrawn: bool = False


@dataclass
class VaultModel:
    bonded: list[int] = field(default_factory=lambda: [0] * N_PROVIDERS)
    entries: list[Entry] = field(default_factory=list)  # index = entry id - 1


@given(ops=st.lists(vault_op, min_size=1, max_size=14))
@SETTINGS
def test_vault_conserves_tokens_and_matches_the_model(backend: _Backend, ops: list) -> None:
    chain, s = backend.chain, backend.system
    snap = chain.snapshot()
    try:
        _run_vault(backend, ops)
    finally:
        chain.revert(snap)
    assert s.vault.functions.totalBonded().call() == 0  # reverted


def _run_vault(backend: _Backend, ops: list) -> None:
    chain, s = backend.chain, backend.system
    v, t = s.vault.functions, s.token.functions
    m = VaultModel()
    providers = s.providers[:N_PROVIDERS]
    next_slash = 1
    for op in ops:
        kind = op[0]
        if kind == "stake":
            _, i, amount = op
            s.fund_and_stake(providers[i], amount)
            m.bonded[i] += amount
        elif kind == "unstake":
            _, i, amount = op
            amount = min(amount, m.bonded[i])
            if amount == 0:
                continue
            receipt = s.tx(v.requestUnstake(amount), providers[i])
            ts = block_ts(s.w3, receipt)
            m.bonded[i] -= amount
            m.entries.append(Entry(i, ts, amount, ts + UNBONDING))
        elif kind == "slash":
            _, i, amount, back = op
            infraction = chain.now() - back
            item = SlashItem(next_slash.to_bytes(32, "big"), providers[i], amount, infraction)
            # The same id twice in one batch: the second is skipped.
            s.tx(v.slashBatch([item.as_abi(), item.as_abi()]), s.slasher, gas=2_000_000)
            next_slash += 1
            # The model is the ledger's own rule: the chain must reduce what it reduces.
            mine = {f"{n:06d}": e for n, e in enumerate(m.entries) if e.provider == i}
            charge = charge_stake(
                amount, m.bonded[i],
                [UnbondingEntry(n, e.requested_at, e.release_at, e.amount)
                 for n, e in mine.items()],
                infraction,
            )  # fmt: skip
            m.bonded[i] -= charge.from_bonded_base_units
            for n, got in charge.from_entries:
                mine[n].amount -= got
        elif kind == "withdraw":
            _, i, k = op
            mine = [(n + 1, e) for n, e in enumerate(m.entries) if e.provider == i]
            ready = [(n, e) for n, e in mine if not e.withdrawn and e.release_at <= chain.now()]
            if not ready:
                continue
            entry_id, e = ready[k % len(ready)]
            before = t.balanceOf(providers[i]).call()
            s.tx(v.withdraw(entry_id), providers[i])
            assert t.balanceOf(providers[i]).call() - before == e.amount
            e.amount, e.withdrawn = 0, True
        else:
            chain.advance(op[1])
        held = t.balanceOf(s.vault.address).call()
        assert held == v.totalBonded().call() + v.totalUnbonding().call()
        assert held == sum(m.bonded) + sum(e.amount for e in m.entries)
    for i, p in enumerate(providers):
        assert v.bondedOf(p).call() == m.bonded[i]
    for n, e in enumerate(m.entries, start=1):
        got = tuple(v.unbondingEntry(n).call())
        assert (got[2], got[3]) == (e.withdrawn, e.amount)


increments = st.lists(st.integers(0, 500), min_size=N_PROVIDERS, max_size=N_PROVIDERS)
claims = st.lists(st.tuples(who, st.integers(0, 20)), max_size=6)


@given(epochs=st.lists(st.tuples(increments, claims), min_size=1, max_size=4))
@SETTINGS
def test_cumulative_roots_never_pay_more_than_the_latest_cumulative(
    backend: _Backend, epochs: list
) -> None:
    chain = backend.chain
    snap = chain.snapshot()
    try:
        _run_claims(backend, epochs)
    finally:
        chain.revert(snap)


def _run_claims(backend: _Backend, epochs: list) -> None:
    s = backend.system
    d, t = s.distributor.functions, s.token.functions
    providers = s.providers[:N_PROVIDERS]
    s.tx(d.setActivationDelay(0), s.deployer)
    funded = 10**9
    s.tx(t.mint(s.distributor.address, funded), s.deployer)
    cumulative = [0] * N_PROVIDERS
    trees = []
    paid = [0] * N_PROVIDERS
    for epoch, (incs, epoch_claims) in enumerate(epochs):
        cumulative = [c + inc for c, inc in zip(cumulative, incs, strict=True)]
        tree = build_tree(list(zip(providers, cumulative, strict=True)))
        s.tx(d.postRoot(epoch, tree.root, bytes(32), bytes(32), 1), s.root_poster)
        trees.append((tree, list(cumulative)))
        backend.chain.advance(1)
        for i, pick in epoch_claims:
            e = pick % len(trees)
            tree_e, cum_e = trees[e]
            fn = d.claim(e, providers[i], cum_e[i], tree_e.proof(providers[i]))
            if cum_e[i] > d.claimed(providers[i]).call():
                before = t.balanceOf(providers[i]).call()
                s.tx(fn, providers[i])
                paid[i] += t.balanceOf(providers[i]).call() - before
            else:
                # Nothing new: the claim reverts (NothingToClaim) and pays nothing.
                receipt = s.w3.eth.wait_for_transaction_receipt(
                    fn.transact({"from": providers[i], "gas": 300_000}), poll_latency=0.01
                )
                assert receipt["status"] == 0
            assert paid[i] == d.claimed(providers[i]).call() <= cumulative[i]
    assert t.balanceOf(s.distributor.address).call() == funded - sum(paid)
