"""The simulator against the real API: every behaviour produces the outcome it stands for."""

from __future__ import annotations

import random
import time
from collections import Counter

from sqlalchemy import Engine

from ledger.kit.config import Settings
from ledger.params.domain import DEFAULT_PARAMS
from ledger.simulator import BEHAVIOURS, make_fleet, register, send, tick
from tests.integration.test_api import make_client, make_runtime


def test_fleet_is_deterministic_and_covers_all_types() -> None:
    a = make_fleet(90, seed=7)
    b = make_fleet(90, seed=7)
    assert [(n.node_id, n.key, n.behaviour) for n in a] == [
        (n.node_id, n.key, n.behaviour) for n in b
    ]
    assert {n.provider_type for n in a} == set(DEFAULT_PARAMS.providers.type_names)
    assert make_fleet(5, seed=8)[0].key != a[0].key


def test_each_behaviour_shows_in_the_results(engine: Engine, fresh_db_url: str,
                                             redis_url: str) -> None:  # fmt: skip
    rt = make_runtime(engine, fresh_db_url, redis_url)
    rt.settings = Settings(SWARM_OPERATOR_TOKEN="t")
    mix = {b: 1.0 for b in BEHAVIOURS}
    fleet = make_fleet(36, seed=3, mix=mix, prefix=f"sim{time.time_ns()}")
    kinds = Counter(n.behaviour for n in fleet)
    rng = random.Random(3)
    with make_client(rt) as client:
        register(client, "t", fleet)
        outcome: Counter[str] = Counter()
        for _ in range(3):
            outcome += send(client, tick(fleet, int(time.time()), rng))
    replayers_active = kinds["replaying"] > 0
    assert outcome["bad_signature"] == 3 * kinds["forging"]
    assert outcome["accepted"] >= 3 * (kinds["healthy"] + kinds["flaky"] + kinds["slow"])
    if replayers_active:
        assert outcome["duplicate"] > 0
    assert sum(outcome.values()) == sum(
        3 for n in fleet if n.behaviour != "down"
    )  # one heartbeat (or replay) per live node per tick
