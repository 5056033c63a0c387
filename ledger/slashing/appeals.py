"""Appeals of held slashes, decided by a quorum of distinct governors; approvals that
release open-ended jails (security reviews, compliance checks).

Votes are append-only rows (one per governor, never changed). The rules are the domain's
(``file_appeal``, ``cast_vote``, ``decide_appeal``); this module loads the appeal, applies them
and stores the result. When a side reaches the quorum of the parameter set, the decision is
carried out in the same transaction: a void voids the holds (every balance restored) and lifts
the jail (the standing replay drops the penalty); an upheld slash simply executes when its
appeal window ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from ledger.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledger.kit.limits import MAX_EVIDENCE_ITEMS
from ledger.params.domain import ParameterSet
from ledger.slashing import domain as sl
from ledger.slashing import service as slashing
from ledger.slashing.repository import SlashingRepository
from ledger.slashing.standing import penalty_from_document


def file_appeal(
    conn: Connection,
    *,
    penalty_id: str,
    counter_evidence: Mapping[str, str],
    now: dt.datetime,
) -> dict[str, Any]:
    """A provider appeals a held slash before its deadline (idempotent per penalty)."""
    if not counter_evidence or len(counter_evidence) > MAX_EVIDENCE_ITEMS:
        raise InvalidInput(
            f"counter_evidence: 1..{MAX_EVIDENCE_ITEMS} items",
            field="counter_evidence",
            code="invalid_counter_evidence",
        )
    row = slashing.get_penalty(conn, penalty_id)
    sl.file_appeal(penalty_from_document(row.document), int(now.timestamp()),
                   dict(counter_evidence), slash_status=row.status)  # fmt: skip
    SlashingRepository(conn).insert_appeal(penalty_id, now, counter_evidence)
    return appeal_state(conn, penalty_id)


def appeal_state(conn: Connection, penalty_id: str) -> dict[str, Any]:
    """The appeal of a penalty: when filed, its counter-evidence, each vote, the slash status."""
    repo = SlashingRepository(conn)
    appeal = repo.get_appeal(penalty_id)
    if appeal is None:
        raise NotFound(f"no appeal of penalty {penalty_id}", code="appeal_not_found")
    filed_at, counter_evidence = appeal
    votes = repo.appeal_votes(penalty_id)
    return {"penalty_id": penalty_id, "filed_at": filed_at, "counter_evidence": counter_evidence,
            "votes": votes, "status": slashing.get_penalty(conn, penalty_id).status}  # fmt: skip


def _parse_vote(choice: str) -> sl.Vote:
    """The API's vote: ``uphold`` or ``void`` (``invalid_vote`` otherwise, before any lookup)."""
    try:
        return sl.Vote(choice)
    except ValueError:
        raise InvalidInput("vote: uphold or void", field="vote", code="invalid_vote") from None


def _domain_appeal(penalty_id: str, state: Mapping[str, Any]) -> sl.Appeal:
    """The stored appeal as the domain's value (its evidence was checked when it was filed)."""
    evidence = sl.canonical_evidence(state["counter_evidence"])
    return sl.Appeal(
        penalty_id=penalty_id,
        filed_at_s=int(state["filed_at"].timestamp()),
        counter_evidence=evidence,
        counter_evidence_digest=sl.evidence_digest(evidence),
        votes=tuple(sorted(state["votes"].items())),
    )


def vote(
    conn: Connection,
    *,
    penalty_id: str,
    governor: str,
    choice: str,
    governors: frozenset[str],
    now: dt.datetime,
    params: ParameterSet,
) -> dict[str, Any]:
    """A governor votes ``uphold`` or ``void``; at quorum a void is carried out at once.

    Refusals: ``not_a_governor`` (403), ``invalid_vote`` (422), ``appeal_not_found`` (404),
    ``penalty_not_pending`` (409: the slash is no longer held) and, from the domain's
    :func:`cast_vote`, ``vote_already_cast`` (409: a vote once cast does not change)."""
    if governor not in governors:
        raise Forbidden(
            f"governor: {governor!r} is not a governor", field="governor", code="not_a_governor"
        )
    choice_ = _parse_vote(choice)
    state = appeal_state(conn, penalty_id)
    if state["status"] != sl.SlashStatus.HELD:
        raise Conflict(f"penalty {penalty_id} is {state['status']}", code="penalty_not_pending")
    appeal = sl.cast_vote(_domain_appeal(penalty_id, state), governor, choice_)
    SlashingRepository(conn).insert_vote(penalty_id, governor, choice_, now)
    outcome = appeal.outcome(params.governance.quorum, governors=governors)
    if outcome == sl.AppealStatus.VOIDED:
        slashing.void_penalty(conn, penalty_id=penalty_id, now=now, params=params)
    return {**appeal_state(conn, penalty_id), "outcome": outcome}
