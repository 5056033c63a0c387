"""A node's slashing standing (jailed, tombstoned, standing multiplier), by replaying facts.

Nothing mutable is stored: the standing of a node as of an epoch is the pure state machine of
``ledger.slashing.domain`` replayed over its penalties (applied when decided, voided or settled
when that happened), the epochs it was judged clean or not, and approved reviews / compliance
checks. The epoch close and ``verify epoch`` replay the same facts, so they agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from ledger.params.domain import ParameterSet
from ledger.slashing import domain as sl
from ledger.slashing.repository import SlashingRepository

_PENALTY_FIELDS = {f.name: f for f in dataclasses.fields(sl.Penalty)}
#: Penalty fields stored as an enum's value, and the enum they are read back as.
_PENALTY_ENUMS: dict[str, type[enum.StrEnum]] = {
    "kind": sl.ViolationKind,
    "klass": sl.ViolationClass,
    "recovery_path": sl.RecoveryPath,
}


class _Fact(enum.StrEnum):
    """Facts of the replay that are not stored statuses (SlashStatus) or releases (ReleaseKind)."""

    TICK = "tick"
    PENALTY = "penalty"


#: Facts at the same second apply in this order: the epoch tick, the penalty decided, its
#: settlement, then releases.
_ORDER_TICK, _ORDER_PENALTY, _ORDER_SETTLED, _ORDER_RELEASE = 1, 2, 3, 4

#: (at_s, order at the same second, what happened, the penalty or the epoch it concerns)
_Event = tuple[int, int, str, Any]


def penalty_from_document(doc: dict[str, Any]) -> sl.Penalty:
    """The domain Penalty stored in a penalty row's document (JSON lists back to tuples, the
    stored enum values back to their members)."""
    kwargs: dict[str, Any] = {}
    for name in _PENALTY_FIELDS:
        value = doc[name]
        kwargs[name] = tuple(value) if isinstance(value, list) else value
        if name in _PENALTY_ENUMS:
            kwargs[name] = _PENALTY_ENUMS[name](value)
    kwargs["unjail_requirements"] = tuple(
        sl.UnjailRequirement(r) for r in kwargs["unjail_requirements"]
    )
    return sl.Penalty(**kwargs)


def _ts(t: dt.datetime) -> int:
    return int(t.timestamp())


def _penalty_events(
    repo: SlashingRepository, wanted: set[str], cutoff: int
) -> tuple[dict[str, list[_Event]], dict[str, int]]:
    """Per penalised node: its penalties decided before ``cutoff`` and their settlements
    before it; and the infraction epoch of its first penalty."""
    # Only penalised nodes have a standing to replay: select them from the (small) penalty
    # table instead of sending every node id of the epoch to the database.
    facts = repo.facts_of_penalties_before(dt.datetime.fromtimestamp(cutoff, dt.UTC))
    rows = [r for r in facts if r[0] in wanted]
    events: dict[str, list[_Event]] = {}
    first_epoch: dict[str, int] = {}
    for node_id, doc, decided_at, status, settled_at in rows:
        p = penalty_from_document(doc)
        ev = events.setdefault(node_id, [])
        ev.append((_ts(decided_at), _ORDER_PENALTY, _Fact.PENALTY, p))
        if status is not None and settled_at is not None and _ts(settled_at) < cutoff:
            ev.append((_ts(settled_at), _ORDER_SETTLED, status, p))
        first_epoch[node_id] = min(first_epoch.get(node_id, p.infraction_epoch), p.infraction_epoch)
    return events, first_epoch


def _apply(
    state: sl.NodeStanding,
    event: _Event,
    unclean: set[tuple[str, int]],
    params: ParameterSet,
) -> sl.NodeStanding:
    """One fact of the replay applied to the node's standing."""
    at_s, _, kind, item = event
    if kind == _Fact.TICK:
        return sl.tick_epoch(state, (state.node_id, item) not in unclean, at_s, params)
    if kind == _Fact.PENALTY:
        return sl.apply_penalty(state, item, at_s)
    if kind == sl.SlashStatus.VOIDED:
        return sl.void_penalty(state, item, at_s)
    if kind == sl.SlashStatus.EXECUTED:
        return sl.settle_penalty(state, item.penalty_id)
    if kind == sl.ReleaseKind.REVIEW:
        return sl.approve_review(state, at_s, params)
    if kind == sl.ReleaseKind.COMPLIANCE:
        return sl.compliance_passed(state, at_s, params)
    return state


def standings_as_of(
    conn: Connection, epoch: int, params: ParameterSet, node_ids: Sequence[str]
) -> dict[str, sl.NodeStanding]:
    """Standing of each node for computing ``epoch``'s rewards: every fact up to the epoch's
    start (penalties decided after evaluating earlier epochs, ticks of earlier epochs)."""
    repo = SlashingRepository(conn)
    length = params.epoch.epoch_length_s
    grace = params.epoch.epoch_settle_grace_s
    cutoff = epoch * length + grace  # evaluations of epoch-1 count
    events, first_epoch = _penalty_events(repo, set(node_ids), cutoff)
    if not events:
        return {}
    nodes = sorted(events)
    unclean = repo.unclean_node_epochs(nodes, epoch)
    for node_id, kind, approved_at in repo.releases_before(
        nodes, dt.datetime.fromtimestamp(cutoff, dt.UTC)
    ):
        events[node_id].append((_ts(approved_at), _ORDER_RELEASE, kind, None))
    out = {}
    for node_id in nodes:
        ev = events[node_id]
        # Each earlier epoch is judged when it settles: clean unless it has a counted violation.
        for e in range(first_epoch[node_id], epoch):
            ev.append(((e + 1) * length + grace, _ORDER_TICK, _Fact.TICK, e))
        state = sl.new_standing(node_id)
        for event in sorted(ev, key=lambda x: (x[0], x[1])):
            state = _apply(state, event, unclean, params)
        out[node_id] = state
    return out
