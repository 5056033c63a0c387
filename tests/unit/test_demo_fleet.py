"""The default demo fleet shows every behaviour and a Sybil pair (issue 9, point 7)."""

from __future__ import annotations

from collections import Counter

from ledger.params.domain import demo_params
from ledger.simulator import BEHAVIOURS, make_fleet, registration_bodies, resume


def test_default_fleet_has_every_behaviour_and_a_sybil_pair() -> None:
    fleet = make_fleet(27, seed=1, params=demo_params())  # the demo's defaults
    kinds = Counter(n.behaviour for n in fleet)
    assert set(kinds) == set(BEHAVIOURS), kinds
    assert kinds["healthy"] >= len(fleet) // 2  # still mostly healthy
    _, nodes = registration_bodies(fleet, demo_params())
    by_fp: dict[str, set[str]] = {}
    for body in nodes:
        by_fp.setdefault(body["hardware"]["fingerprint"], set()).add(body["provider_id"])
    shared = [providers for providers in by_fp.values() if len(providers) > 1]
    assert len(shared) == 1 and len(shared[0]) == 2  # exactly one pair, of two providers


def test_fleet_stays_deterministic() -> None:
    a, b = make_fleet(27, seed=1), make_fleet(27, seed=1)
    assert [(n.behaviour, n.fingerprint) for n in a] == [(n.behaviour, n.fingerprint) for n in b]


def test_small_fleets_and_custom_mixes_are_left_alone() -> None:
    assert len(make_fleet(3, seed=1)) == 3
    only = make_fleet(20, seed=1, mix={"healthy": 1.0}, sybil_pair=False)
    assert {n.behaviour for n in only} == {"healthy"}
    assert len({n.fingerprint for n in only}) == 20


def test_resume_moves_seq_past_an_earlier_run() -> None:
    fleet = make_fleet(4, seed=1)
    resume(fleet, 1_800_000_000)
    assert {n.seq for n in fleet} == {1_800_000_000}
