"""Slashing standing feeds the epoch close: jailed and tombstoned nodes earn nothing, a voided
penalty gives the node its standing back (all replayed from append-only facts)."""

from __future__ import annotations

from sqlalchemy import Engine

from ledger.epochs import service as epochs
from ledger.kit.db import transaction
from ledger.params.domain import demo_params
from ledger.params.domain.epochs import epoch_settles_at
from ledger.rewards.repository import RewardsRepository
from ledger.slashing import service as slashing
from tests.integration.epoch_helpers import at, bond, future_epoch, send_epoch
from tests.integration.fleet import make_fleet

P = demo_params()


def close(engine: Engine, epoch: int) -> dict[str, tuple[int, dict]]:
    with transaction(engine) as conn:
        epochs.close_epoch(conn, epoch, now=at(epoch_settles_at(epoch, P)), params=P)
    with engine.connect() as conn:
        assert epochs.verify_epoch(conn, epoch, params=P).ok
        return RewardsRepository(conn).receipts(epoch)


def test_jail_tombstone_and_void_flow_into_rewards(engine: Engine) -> None:
    e = future_epoch(P)
    nodes = make_fleet(engine, 3, types=("gaming_pc",), params=P)
    bond(engine, nodes, at(e * 60 - 1))
    for k in range(4):
        send_epoch(engine, nodes, e + k, P)
    dead, jailed, fine = (n.node_id for n in nodes)

    r = close(engine, e)
    assert all(r[n][0] > 0 for n in (dead, jailed, fine))

    with transaction(engine) as conn:  # reported during epoch e+1 (before it settles)
        slashing.report_violation(
            conn, kind="security_breach", node_id=dead, evidence={"report": "critical-1"},
            severity="critical", now=at(e * 60 + 65), params=P, infraction_at=at(e * 60 + 61),
        )  # fmt: skip
        major = slashing.report_violation(
            conn, kind="security_breach", node_id=jailed, evidence={"report": "major-1"},
            severity="major", now=at(e * 60 + 66), params=P, infraction_at=at(e * 60 + 62),
        )  # fmt: skip
    r = close(engine, e + 1)
    assert r[dead][0] == 0 and r[dead][1]["tombstoned"] is True
    assert r[jailed][0] == 0 and r[jailed][1]["jailed"] is True
    assert r[fine][0] > 0

    with transaction(engine) as conn:  # the appeal wins during epoch e+2
        slashing.void_penalty(conn, penalty_id=major.id, now=at(e * 60 + 125))
    r = close(engine, e + 2)
    assert r[jailed][0] > 0 and r[jailed][1]["jailed"] is False
    assert r[jailed][1]["standing_ppm"] == 1_000_000
    assert r[dead][0] == 0 and r[dead][1]["tombstoned"] is True  # never returns

    r = close(engine, e + 3)
    assert r[dead][1]["tombstoned"] is True and r[jailed][0] > 0
