"""Standing: a small state machine per node. Active / jailed / tombstoned, what an unjail
needs, and the standing multiplier with its restoration steps. While a penalty can still be
voided, the node's transitions since the oldest open one are kept, so a voided penalty is undone
by replaying them without it."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import Final

from ledger.kit.limits import MAX_STANDING_LOG_EVENTS
from ledger.kit.money import PPM
from ledger.params.domain import ParameterSet
from ledger.slashing.domain.errors import SlashingError, require_int, require_str
from ledger.slashing.domain.kinds import StandingStatus, UnjailRequirement
from ledger.slashing.domain.penalties import Penalty

#: The requirements an approved review clears (the rest need a compliance check).
_REVIEW_REQUIREMENTS: Final[frozenset[UnjailRequirement]] = frozenset(
    {UnjailRequirement.SECURITY_REVIEW, UnjailRequirement.GOVERNOR_REVIEW}
)


@dataclass(frozen=True, slots=True)
class StandingSnapshot:
    """The observable standing of a node (what :class:`NodeStanding` shows, without history).

    ``standing_ppm`` is the reward multiplier for the next epoch closed: 1e6 in good standing,
    ``1e6 - slash fraction`` after a penalty without jail, 0 while jailed or tombstoned, and the
    restoration steps (0.25 / 0.5 / 0.75 / 1.0) after a jail. ``restoration_step`` is the
    1-based index of the step the standing sits on below good standing, 0 otherwise.
    """

    status: StandingStatus
    jailed_until_s: int | None
    unjail_requirements: tuple[UnjailRequirement, ...]
    restoration_step: int
    standing_ppm: int


class StandingEventKind(enum.StrEnum):
    """What one transition of a node's standing was (``StandingEvent.kind``)."""

    PENALTY_APPLIED = "penalty_applied"
    EPOCH_TICKED = "epoch_ticked"
    REVIEW_APPROVED = "review_approved"
    COMPLIANCE_PASSED = "compliance_passed"


@dataclass(frozen=True, slots=True)
class StandingEvent:
    """One transition of a node's standing, kept while a penalty can still be voided.

    ``restoration_steps_ppm`` is the parameter set's steps at the time, so a replay gives the
    same result even after governance changed them.
    """

    kind: StandingEventKind
    at_s: int
    penalty: Penalty | None = None
    epoch_clean: bool = False
    restoration_steps_ppm: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeStanding:
    """A node's slashing state: active / jailed / tombstoned, unjail needs, standing multiplier.

    ``jailed_until_s`` is the time bound of a jail (None: none, or only checks to pass);
    ``unjail_requirements`` the checks still outstanding (``security_review``,
    ``governor_review``, ``compliance_verification``). A jailed node is released by
    :func:`tick_epoch`, :func:`approve_review` or :func:`compliance_passed` once the time has
    passed *and* no requirement is left; it comes back at the first restoration step.
    Tombstoned is final.

    While a penalty is open (appealable, :func:`settle_penalty` not yet called), ``base`` is
    the snapshot before the oldest open penalty and ``log`` every transition since, so
    :func:`void_penalty` can replay the node's history without the voided penalty.
    """

    node_id: str
    status: StandingStatus = StandingStatus.ACTIVE
    jailed_until_s: int | None = None
    unjail_requirements: tuple[UnjailRequirement, ...] = ()
    restoration_step: int = 0
    standing_ppm: int = PPM
    open_penalty_ids: tuple[str, ...] = ()
    base: StandingSnapshot | None = None
    log: tuple[StandingEvent, ...] = ()

    def __post_init__(self) -> None:
        require_str("node_id", self.node_id)
        if self.status not in tuple(StandingStatus):
            raise SlashingError(
                f"one of {', '.join(StandingStatus)}", code="unknown_status", field="status"
            )
        for req in self.unjail_requirements:
            if req not in tuple(UnjailRequirement):
                raise SlashingError(
                    repr(req), code="unknown_requirement", field="unjail_requirements"
                )
        require_int("standing_ppm", self.standing_ppm, 0, PPM)
        require_int("restoration_step", self.restoration_step)
        if (self.base is None) != (not self.open_penalty_ids):
            raise SlashingError(
                "base is kept iff penalties open", code="inconsistent_history", field="base"
            )

    @property
    def snapshot(self) -> StandingSnapshot:
        """The observable state without the undo history."""
        return StandingSnapshot(
            self.status,
            self.jailed_until_s,
            self.unjail_requirements,
            self.restoration_step,
            self.standing_ppm,
        )

    @property
    def unjail_requires(self) -> UnjailRequirement | None:
        """The first outstanding unjail requirement (security, governor, compliance), or None."""
        for req in UnjailRequirement:
            if req in self.unjail_requirements:
                return req
        return None

    @property
    def jailed(self) -> bool:
        """Whether the node is jailed now (rewards: ineligible, ``jailed``)."""
        return self.status == StandingStatus.JAILED

    @property
    def tombstoned(self) -> bool:
        """Whether the node is tombstoned (rewards: ineligible, ``tombstoned``), for good."""
        return self.status == StandingStatus.TOMBSTONED


def new_standing(node_id: str) -> NodeStanding:
    """A node in good standing with no history."""
    return NodeStanding(node_id=node_id)


def _next_step(standing_ppm: int, steps: tuple[int, ...]) -> tuple[int, int]:
    """(standing, restoration_step) one clean epoch later: the first step above the standing."""
    for i, step in enumerate(steps):
        if step > standing_ppm:
            return step, (i + 1 if i + 1 < len(steps) else 0)
    return standing_ppm, 0


def standing_after_epoch(standing_ppm: int, clean: bool, params: ParameterSet) -> int:
    """Standing of an active node after an epoch: a clean one climbs to the next step above.

    With the default steps 0.25 / 0.5 / 0.75 / 1.0: a node released from jail at 0.25 is back to
    1.0 after three clean epochs (its four epochs back earn x0.25, x0.5, x0.75, x1.0). A penalty
    standing between steps (e.g. 0.999 after a 0.1% slash) climbs to the next step above it.
    An epoch that is not clean holds the standing where it is.
    """
    require_int("standing_ppm", standing_ppm, 0, PPM)
    if not clean:
        return standing_ppm
    return _next_step(standing_ppm, params.multipliers.standing_restoration_steps_ppm)[0]


# --- the transitions, over snapshots ---------------------------------------------------------


def _release_if_due(core: StandingSnapshot, now_s: int, steps: tuple[int, ...]) -> StandingSnapshot:
    if core.status != StandingStatus.JAILED or core.unjail_requirements:
        return core
    if core.jailed_until_s is not None and now_s < core.jailed_until_s:
        return core
    first = steps[0]
    return StandingSnapshot(StandingStatus.ACTIVE, None, (), 1 if len(steps) > 1 else 0, first)


def _core_apply(core: StandingSnapshot, penalty: Penalty) -> StandingSnapshot:
    if core.status == StandingStatus.TOMBSTONED:
        return core
    if penalty.tombstone:
        return StandingSnapshot(StandingStatus.TOMBSTONED, None, (), 0, 0)
    if penalty.jail:
        bounds = [b for b in (penalty.jail_until_s,) if b is not None]
        reqs = set(penalty.unjail_requirements)
        if core.status == StandingStatus.JAILED:
            if core.jailed_until_s is not None:
                bounds.append(core.jailed_until_s)
            reqs |= set(core.unjail_requirements)
        ordered = tuple(r for r in UnjailRequirement if r in reqs)
        return StandingSnapshot(
            StandingStatus.JAILED, max(bounds) if bounds else None, ordered, 0, 0
        )
    if penalty.slash_fraction_ppm > 0 and core.status == StandingStatus.ACTIVE:
        lowered = PPM - penalty.slash_fraction_ppm
        if lowered < core.standing_ppm:
            return replace(core, standing_ppm=lowered, restoration_step=0)
    return core


def _core_tick(core: StandingSnapshot, event: StandingEvent) -> StandingSnapshot:
    steps = event.restoration_steps_ppm
    if core.status == StandingStatus.JAILED:
        # The release epoch is not a clean epoch served: no climb on the way out.
        return _release_if_due(core, event.at_s, steps)
    if core.status == StandingStatus.ACTIVE and event.epoch_clean:
        standing, step = _next_step(core.standing_ppm, steps)
        return replace(core, standing_ppm=standing, restoration_step=step)
    return core


def _core_step(core: StandingSnapshot, event: StandingEvent) -> StandingSnapshot:
    if event.kind == StandingEventKind.PENALTY_APPLIED:
        assert event.penalty is not None
        return _core_apply(core, event.penalty)
    if event.kind == StandingEventKind.EPOCH_TICKED:
        return _core_tick(core, event)
    removed: AbstractSet[UnjailRequirement]
    if event.kind == StandingEventKind.REVIEW_APPROVED:
        removed = _REVIEW_REQUIREMENTS
    else:
        removed = {UnjailRequirement.COMPLIANCE_VERIFICATION}
    if core.status != StandingStatus.JAILED:
        return core
    left = tuple(r for r in core.unjail_requirements if r not in removed)
    return _release_if_due(
        replace(core, unjail_requirements=left), event.at_s, event.restoration_steps_ppm
    )


def _replay(base: StandingSnapshot, events: Iterable[StandingEvent]) -> StandingSnapshot:
    core = base
    for event in events:
        core = _core_step(core, event)
    return core


# --- the undo history ------------------------------------------------------------------------


def _with_core(
    state: NodeStanding,
    core: StandingSnapshot,
    *,
    base: StandingSnapshot | None,
    log: tuple[StandingEvent, ...],
    open_penalty_ids: tuple[str, ...],
) -> NodeStanding:
    return NodeStanding(
        node_id=state.node_id,
        status=core.status,
        jailed_until_s=core.jailed_until_s,
        unjail_requirements=core.unjail_requirements,
        restoration_step=core.restoration_step,
        standing_ppm=core.standing_ppm,
        open_penalty_ids=open_penalty_ids,
        base=base,
        log=log,
    )


def _normalize(
    state: NodeStanding,
    core: StandingSnapshot,
    log: tuple[StandingEvent, ...],
    open_ids: tuple[str, ...],
) -> NodeStanding:
    """The state with ``core`` and ``open_ids``, ``base`` and ``log`` trimmed to what the open
    penalties need: the log prefix before the oldest open penalty is folded into ``base``, and
    both are dropped when nothing is open."""
    if not open_ids:
        return _with_core(state, core, base=None, log=(), open_penalty_ids=())
    assert state.base is not None
    oldest = open_ids[0]
    cut = next(
        i
        for i, e in enumerate(log)
        if e.kind == StandingEventKind.PENALTY_APPLIED
        and e.penalty is not None
        and e.penalty.penalty_id == oldest
    )
    base = _replay(state.base, log[:cut]) if cut else state.base
    return _with_core(state, core, base=base, log=log[cut:], open_penalty_ids=open_ids)


def _record(state: NodeStanding, event: StandingEvent, opens: str | None) -> NodeStanding:
    core = _core_step(state.snapshot, event)
    if opens is None and not state.open_penalty_ids:
        return _with_core(state, core, base=None, log=(), open_penalty_ids=())
    if not state.open_penalty_ids:
        assert opens is not None
        new = _with_core(state, core, base=state.snapshot, log=(event,), open_penalty_ids=(opens,))
    else:
        ids = state.open_penalty_ids + ((opens,) if opens is not None else ())
        new = _with_core(
            state, core, base=state.base, log=(*state.log, event), open_penalty_ids=ids
        )
    while len(new.log) > MAX_STANDING_LOG_EVENTS and new.open_penalty_ids:
        # Too much history: the oldest open penalty is settled for good (no longer voidable
        # here); the ledger can still reverse its money.
        new = _normalize(new, new.snapshot, new.log, new.open_penalty_ids[1:])
    return new


def _steps(params: ParameterSet) -> tuple[int, ...]:
    return params.multipliers.standing_restoration_steps_ppm


def _require_own(state: NodeStanding, penalty: Penalty) -> None:
    if penalty.node_id != state.node_id:
        raise SlashingError(
            f"not node {state.node_id!r}", code="wrong_node", field="penalty.node_id"
        )


# --- the commands ----------------------------------------------------------------------------


def apply_penalty(state: NodeStanding, penalty: Penalty, now_s: int) -> NodeStanding:
    """Apply ``penalty`` to the node's standing at ``now_s``.

    Tombstone: final. Jail: status jailed, standing 0; a jail on a jailed node keeps the later
    time bound and every requirement of both. A slash without jail lowers the standing to
    ``1e6 - fraction`` (never raises it). Warnings and under-stake change nothing here (the
    under-stake rewards rule is :func:`under_stake_rewards_eligible`). Applying the same
    penalty id twice while it is open is a no-op (one slash per incident).
    """
    require_int("now_s", now_s)
    _require_own(state, penalty)
    if not penalty.affects_standing:
        return state
    if any(e.penalty is not None and e.penalty.penalty_id == penalty.penalty_id for e in state.log):
        return state
    event = StandingEvent(kind=StandingEventKind.PENALTY_APPLIED, at_s=now_s, penalty=penalty)
    return _record(state, event, penalty.penalty_id)


def tick_epoch(
    state: NodeStanding, epoch_clean: bool, now_s: int, params: ParameterSet
) -> NodeStanding:
    """Close an epoch for the node at ``now_s`` (after its rewards used the current standing).

    A jailed node is released when its time has passed and nothing is required (poor
    performance: automatic unjail) and comes back at the first restoration step; an active node
    climbs one step after a clean epoch (:func:`standing_after_epoch`) and holds otherwise.
    ``epoch_clean`` means no counted violation of the node in the epoch.
    """
    require_int("now_s", now_s)
    if not isinstance(epoch_clean, bool):
        raise SlashingError("must be a bool", code="not_a_bool", field="epoch_clean")
    event = StandingEvent(
        kind=StandingEventKind.EPOCH_TICKED,
        at_s=now_s,
        epoch_clean=epoch_clean,
        restoration_steps_ppm=_steps(params),
    )
    return _record(state, event, None)


def approve_review(state: NodeStanding, now_s: int, params: ParameterSet) -> NodeStanding:
    """A governor quorum approved the node's review (security review or severe-rung review).

    Clears ``security_review`` and ``governor_review``; releases at once if the time bound has
    passed and no compliance check is outstanding. No effect on an active or tombstoned node.
    """
    require_int("now_s", now_s)
    event = StandingEvent(
        kind=StandingEventKind.REVIEW_APPROVED, at_s=now_s, restoration_steps_ppm=_steps(params)
    )
    return _record(state, event, None)


def compliance_passed(state: NodeStanding, now_s: int, params: ParameterSet) -> NodeStanding:
    """The node passed its compliance verification (e.g. unique hardware, stake bonded).

    Clears ``compliance_verification``; releases at once if nothing else is outstanding.
    """
    require_int("now_s", now_s)
    event = StandingEvent(
        kind=StandingEventKind.COMPLIANCE_PASSED, at_s=now_s, restoration_steps_ppm=_steps(params)
    )
    return _record(state, event, None)


def void_penalty(state: NodeStanding, penalty: Penalty, now_s: int) -> NodeStanding:
    """Undo an open ``penalty`` (its appeal was voided) as if it had never been applied.

    The node's transitions since the oldest open penalty are replayed without it: its jail is
    lifted, its tombstone removed and its standing restored, while every other penalty, epoch
    tick, review and compliance check is kept, in order. What this cannot undo: the epochs the
    node spent jailed (time; the ledger's reversing entries restore the lost rewards and the
    slashed funds) and a penalty already settled (:func:`settle_penalty`), which raises
    ``penalty_not_open``. A penalty that never affected standing (a warning) is a no-op. The
    caller also marks the offence not counted in the ladder history (:func:`count_offences`).
    """
    require_int("now_s", now_s)
    _require_own(state, penalty)
    if penalty.penalty_id not in state.open_penalty_ids:
        if not penalty.affects_standing:
            return state
        raise SlashingError("not open on this node", code="penalty_not_open", field="penalty_id")
    assert state.base is not None
    log = tuple(
        e for e in state.log if e.penalty is None or e.penalty.penalty_id != penalty.penalty_id
    )
    core = _replay(state.base, log)
    ids = tuple(i for i in state.open_penalty_ids if i != penalty.penalty_id)
    return _normalize(state, core, log, ids)


def settle_penalty(state: NodeStanding, penalty_id: str) -> NodeStanding:
    """The penalty can no longer be voided (upheld, or its appeal window passed): forget how
    to undo it. Unknown or already settled ids are a no-op."""
    if penalty_id not in state.open_penalty_ids:
        return state
    ids = tuple(i for i in state.open_penalty_ids if i != penalty_id)
    return _normalize(state, state.snapshot, state.log, ids)
