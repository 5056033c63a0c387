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
from ledger.slashing.repository import PenaltyRow, SlashingRepository

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
    repo: SlashingRepository, wanted: set[str], cutoff: int, exclude: frozenset[str] = frozenset()
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
        if p.penalty_id in exclude:
            continue
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
    if kind in (sl.SlashStatus.VOIDED, sl.SlashStatus.OVERTURNED):
        # An overturned penalty replays as open until its overturn (its execution is not
        # applied), then as voided: its jail, tombstone and standing are lifted.
        return sl.void_penalty(state, item, at_s)
    if kind == sl.SlashStatus.EXECUTED:
        return sl.settle_penalty(state, item.penalty_id)
    if kind == sl.ReleaseKind.REVIEW:
        return sl.approve_review(state, at_s, params)
    if kind == sl.ReleaseKind.COMPLIANCE:
        return sl.compliance_passed(state, at_s, params)
    return state


def standings_as_of(
    conn: Connection,
    epoch: int,
    params: ParameterSet,
    node_ids: Sequence[str],
    *,
    exclude_penalties: frozenset[str] = frozenset(),
) -> dict[str, sl.NodeStanding]:
    """Standing of each node for computing ``epoch``'s rewards: every fact up to the epoch's
    start (penalties decided after evaluating earlier epochs, ticks of earlier epochs).

    ``exclude_penalties`` replays as if those penalties had never been decided: the standing a
    node would have had without a penalty voided or overturned later, which is what the
    rewards it lost to that penalty are recomputed with (issue 15 point 3)."""
    repo = SlashingRepository(conn)
    length = params.epoch.epoch_length_s
    grace = params.epoch.epoch_settle_grace_s
    cutoff = epoch * length + grace  # evaluations of epoch-1 count
    events, first_epoch = _penalty_events(repo, set(node_ids), cutoff, exclude_penalties)
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


#: At most this many epochs are compared for one voided penalty (a 7-day jail of hourly
#: epochs is 168; a longer range is refused rather than replayed for minutes).
MAX_RESTORATION_EPOCHS = 2_000


def reversed_penalties(conn: Connection) -> list[PenaltyRow]:
    """Every penalty voided or overturned, in the order it was reversed (the restoration
    sweep's work list)."""
    return SlashingRepository(conn).reversed_penalties()


def restoration_span(row: PenaltyRow, params: ParameterSet) -> tuple[int, int]:
    """``(first, last)``: the epochs whose rewards a reversed penalty can have changed.

    They are the epochs whose standing cutoff (``epoch x length + settle grace``) falls after
    the decision and at or before the void (or overturn): each was computed with the penalty
    in effect, and every later one with it lifted. ``first > last`` when there is none."""
    if row.settled_at is None or row.status not in (
        sl.SlashStatus.VOIDED,
        sl.SlashStatus.OVERTURNED,
    ):
        raise ValueError(f"penalty {row.id} is {row.status}, not reversed")
    length, grace = params.epoch.epoch_length_s, params.epoch.epoch_settle_grace_s
    first = (_ts(row.decided_at) - grace) // length + 1  # first cutoff after the decision
    last = (_ts(row.settled_at) - grace) // length  # last cutoff at or before the reversal
    if last - first + 1 > MAX_RESTORATION_EPOCHS:
        raise ValueError(f"penalty {row.id}: {last - first + 1} epochs to restore")
    return first, last


def fair_standing(
    conn: Connection, epoch: int, params: ParameterSet, node_id: str
) -> sl.NodeStanding:
    """The standing ``node_id`` would have had for ``epoch`` had none of its penalties that
    are reversed by now ever been decided (what its lost rewards are recomputed with).

    Every reversed penalty of the node is left out, not only one: two voided penalties that
    both jailed it in an epoch restore that epoch once, in full."""
    reversed_ = frozenset(
        p.id
        for p in SlashingRepository(conn).penalties_of_node(node_id)
        if p.status in (sl.SlashStatus.VOIDED, sl.SlashStatus.OVERTURNED)
    )
    replay = standings_as_of(conn, epoch, params, [node_id], exclude_penalties=reversed_)
    return replay.get(node_id, sl.new_standing(node_id))


def standing_lost_to(
    conn: Connection, penalty_id: str, params: ParameterSet
) -> list[tuple[int, sl.NodeStanding, sl.NodeStanding]]:
    """The epochs whose rewards a voided or overturned penalty changed, each with the standing
    the node was paid at and its fair standing (:func:`fair_standing`):
    ``[(epoch, with_it, without_it), ...]``, oldest first; ``[]`` for a penalty not reversed.
    """
    row = SlashingRepository(conn).get_penalty(penalty_id)
    if row is None or row.settled_at is None:
        return []
    if row.status not in (sl.SlashStatus.VOIDED, sl.SlashStatus.OVERTURNED):
        return []
    first, last = restoration_span(row, params)
    out = []
    for epoch in range(first, last + 1):
        paid = standings_as_of(conn, epoch, params, [row.node_id]).get(row.node_id)
        paid = paid or sl.new_standing(row.node_id)
        fair = fair_standing(conn, epoch, params, row.node_id)
        if (paid.status, paid.standing_ppm) != (fair.status, fair.standing_ppm):
            out.append((epoch, paid, fair))
    return out
