"""Appeals: a provider may appeal a held slash before its deadline; governors vote, and a side
wins at the quorum."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import Final

from ledger.kit.errors import ErrorKind
from ledger.kit.limits import MAX_APPEAL_VOTES
from ledger.slashing.domain.errors import SlashingError, require_int, require_str
from ledger.slashing.domain.evidence import canonical_evidence, evidence_digest
from ledger.slashing.domain.kinds import AppealStatus, SlashStatus, Vote
from ledger.slashing.domain.penalties import Penalty

#: The lifecycle of a slash that moves money: the statuses :func:`can_appeal` accepts.
_SLASH_LIFECYCLE: Final[tuple[SlashStatus, ...]] = (
    SlashStatus.HELD,
    SlashStatus.EXECUTED,
    SlashStatus.UPHELD,
    SlashStatus.VOIDED,
    SlashStatus.OVERTURNED,
)


def can_appeal(penalty: Penalty, now_s: int, *, slash_status: str = SlashStatus.HELD) -> bool:
    """Whether the provider may still appeal ``penalty`` at ``now_s``.

    Only a held slash (not yet executed, upheld or voided) with a sanction to appeal
    (:attr:`Penalty.appealable`), strictly before ``appeal_deadline_s``: at the deadline the
    slash executes. A status outside the slash lifecycle (``warning`` included) is refused as
    ``unknown_status``.
    """
    require_int("now_s", now_s)
    if slash_status not in _SLASH_LIFECYCLE:
        values = tuple(str(s) for s in _SLASH_LIFECYCLE)
        raise SlashingError(f"one of {values}", code="unknown_status", field="slash_status")
    return (
        slash_status == SlashStatus.HELD
        and penalty.appealable
        and now_s < penalty.appeal_deadline_s
    )


def _require_vote(vote: object, field: str) -> Vote:
    if vote not in tuple(Vote):
        raise SlashingError("must be uphold or void", code="unknown_vote", field=field)
    return Vote(str(vote))


def decide_appeal(
    votes: Mapping[str, str], quorum: int, *, governors: AbstractSet[str] | None = None
) -> AppealStatus:
    """Outcome of an appeal from governor votes: ``upheld``, ``voided`` or open (``pending``).

    ``votes`` maps each governor (distinct by construction) to ``uphold`` or ``void``; a side
    wins when at least ``quorum`` governors voted for it (``params.governance.quorum``). Votes
    of addresses not in ``governors`` (when given) do not count. Should both sides reach the
    quorum (only possible when the quorum is at most half the governors) the appeal stays
    open: a deadlock is for governance to resolve, not for a tie-break rule here.
    """
    require_int("quorum", quorum, 1)
    if len(votes) > MAX_APPEAL_VOTES:
        raise SlashingError(f"at most {MAX_APPEAL_VOTES}", code="too_many_votes", field="votes")
    uphold = void = 0
    for governor, vote in votes.items():
        require_str("votes", governor)
        choice = _require_vote(vote, f"votes[{governor}]")
        if governors is not None and governor not in governors:
            continue
        if choice == Vote.UPHOLD:
            uphold += 1
        else:
            void += 1
    if uphold >= quorum and void < quorum:
        return AppealStatus.UPHELD
    if void >= quorum and uphold < quorum:
        return AppealStatus.VOIDED
    return AppealStatus.OPEN


@dataclass(frozen=True, slots=True)
class Appeal:
    """A provider's appeal of a penalty with counter-evidence, and the governor votes so far."""

    penalty_id: str
    filed_at_s: int
    counter_evidence: tuple[tuple[str, str], ...]
    counter_evidence_digest: str
    votes: tuple[tuple[str, str], ...] = ()

    def outcome(self, quorum: int, *, governors: AbstractSet[str] | None = None) -> AppealStatus:
        """:func:`decide_appeal` over this appeal's votes."""
        return decide_appeal(dict(self.votes), quorum, governors=governors)


def file_appeal(
    penalty: Penalty,
    now_s: int,
    counter_evidence: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    slash_status: str = SlashStatus.HELD,
) -> Appeal:
    """Open an appeal of ``penalty`` at ``now_s``; ``appeal_not_allowed`` when
    :func:`can_appeal` says no."""
    if not can_appeal(penalty, now_s, slash_status=slash_status):
        raise SlashingError(
            f"not appealable at {now_s} (deadline {penalty.appeal_deadline_s}, {slash_status})",
            code="appeal_not_allowed",
            field="penalty_id",
            kind=ErrorKind.CONFLICT,
        )
    canonical = canonical_evidence(counter_evidence)
    return Appeal(penalty.penalty_id, now_s, canonical, evidence_digest(canonical))


def cast_vote(appeal: Appeal, governor: str, vote: str) -> Appeal:
    """Record ``governor``'s vote. Repeating the same vote is a no-op; changing it is refused
    (``vote_already_cast``), so a vote once counted stays counted."""
    require_str("governor", governor)
    choice = _require_vote(vote, "vote")
    cast = dict(appeal.votes)
    if governor in cast:
        if cast[governor] == choice:
            return appeal
        raise SlashingError(
            f"{governor} already voted {cast[governor]}",
            code="vote_already_cast",
            field="vote",
            kind=ErrorKind.CONFLICT,
        )
    if len(cast) >= MAX_APPEAL_VOTES:
        raise SlashingError(f"at most {MAX_APPEAL_VOTES}", code="too_many_votes", field="votes")
    return replace(appeal, votes=tuple(sorted((*appeal.votes, (governor, choice)))))
