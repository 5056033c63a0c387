"""A node's slashing standing (jailed, tombstoned, standing multiplier), by replaying facts.

Nothing mutable is stored: the standing of a node as of an epoch is the pure state machine of
``ledger.slashing.domain`` replayed over its penalties (applied when decided, voided or settled
when that happened), the epochs it was judged clean or not, and approved reviews / compliance
checks. The epoch close and ``verify epoch`` replay the same facts, so they agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from ledger.kit.db import driver
from ledger.params.domain import ParameterSet
from ledger.slashing import domain as sl

_PENALTY_FIELDS = {f.name: f for f in dataclasses.fields(sl.Penalty)}


def penalty_from_document(doc: dict[str, Any]) -> sl.Penalty:
    """The domain Penalty stored in a penalty row's document (JSON lists back to tuples)."""
    kwargs: dict[str, Any] = {}
    for name in _PENALTY_FIELDS:
        value = doc[name]
        kwargs[name] = tuple(value) if isinstance(value, list) else value
    return sl.Penalty(**kwargs)


def _ts(t: dt.datetime) -> int:
    return int(t.timestamp())


def standings_as_of(
    conn: Connection, epoch: int, params: ParameterSet, node_ids: Sequence[str]
) -> dict[str, sl.NodeStanding]:
    """Standing of each node for computing ``epoch``'s rewards: every fact up to the epoch's
    start (penalties decided after evaluating earlier epochs, ticks of earlier epochs)."""
    pg = driver(conn)
    length = params.epoch.epoch_length_s
    cutoff = epoch * length + params.epoch.epoch_settle_grace_s  # evaluations of epoch-1 count
    # Only penalised nodes have a standing to replay: select them from the (small) penalty
    # table instead of sending every node id of the epoch to the database.
    wanted = set(node_ids)
    rows = [
        r
        for r in pg.execute(
            "SELECT p.node_id, p.document, p.decided_at, e.status, e.at "
            "FROM slash_penalties p LEFT JOIN slash_penalty_events e ON e.penalty_id = p.id "
            "WHERE p.decided_at < %s ORDER BY p.decided_at, p.id",
            (dt.datetime.fromtimestamp(cutoff, dt.UTC),),
        ).fetchall()
        if r[0] in wanted
    ]
    if not rows:
        return {}
    events: dict[str, list[tuple[int, int, str, Any]]] = {}
    first_epoch: dict[str, int] = {}
    for node_id, doc, decided_at, status, settled_at in rows:
        p = penalty_from_document(doc)
        ev = events.setdefault(node_id, [])
        ev.append((_ts(decided_at), 2, "penalty", p))
        if status is not None and _ts(settled_at) < cutoff:
            ev.append((_ts(settled_at), 3, status, p))
        first_epoch[node_id] = min(first_epoch.get(node_id, p.infraction_epoch), p.infraction_epoch)
    nodes = sorted(events)
    unclean = {
        (r[0], int(r[1]))
        for r in pg.execute(
            "SELECT DISTINCT node_id, infraction_epoch FROM slash_violations "
            "WHERE node_id = ANY(%s::text[]) AND NOT waived AND infraction_epoch < %s",
            (nodes, epoch),
        ).fetchall()
    }
    for node_id, kind, approved_at in pg.execute(
        "SELECT node_id, kind, approved_at FROM node_releases "
        "WHERE node_id = ANY(%s::text[]) AND approved_at < %s",
        (nodes, dt.datetime.fromtimestamp(cutoff, dt.UTC)),
    ).fetchall():
        events[node_id].append((_ts(approved_at), 4, kind, None))
    out = {}
    for node_id in nodes:
        ev = events[node_id]
        # Each earlier epoch is judged when it settles: clean unless it has a counted violation.
        for e in range(first_epoch[node_id], epoch):
            ev.append(((e + 1) * length + params.epoch.epoch_settle_grace_s, 1, "tick", e))
        state = sl.new_standing(node_id)
        for at_s, _, kind, item in sorted(ev, key=lambda x: (x[0], x[1])):
            if kind == "tick":
                state = sl.tick_epoch(state, (node_id, item) not in unclean, at_s, params)
            elif kind == "penalty":
                state = sl.apply_penalty(state, item, at_s)
            elif kind == "voided":
                state = sl.void_penalty(state, item, at_s)
            elif kind == "executed":
                state = sl.settle_penalty(state, item.penalty_id)
            elif kind == "review":
                state = sl.approve_review(state, at_s, params)
            elif kind == "compliance":
                state = sl.compliance_passed(state, at_s, params)
        out[node_id] = state
    return out
