"""Appeals of pending slashes, decided by a quorum of distinct governors; approvals that
release open-ended jails (security reviews, compliance checks).

Votes are append-only rows (one per governor, never changed). When a side reaches the quorum
of the parameter set, the decision is carried out in the same transaction: a void voids the
holds (every balance restored) and lifts the jail (the standing replay drops the penalty); an
upheld slash simply executes when its appeal window ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Connection

from ledger.kit.db import driver
from ledger.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from ledger.kit.limits import MAX_EVIDENCE_ITEMS
from ledger.params.domain import ParameterSet
from ledger.slashing import domain as sl
from ledger.slashing import service as slashing
from ledger.slashing.standing import penalty_from_document


def file_appeal(
    conn: Connection,
    *,
    penalty_id: str,
    counter_evidence: Mapping[str, str],
    now: dt.datetime,
) -> dict[str, Any]:
    """A provider appeals a pending slash before its deadline (idempotent per penalty)."""
    if not counter_evidence or len(counter_evidence) > MAX_EVIDENCE_ITEMS:
        raise InvalidInput(
            f"counter_evidence: 1..{MAX_EVIDENCE_ITEMS} items",
            field="counter_evidence",
            code="invalid_counter_evidence",
        )
    row = slashing.get_penalty(conn, penalty_id)
    sl.file_appeal(penalty_from_document(row.document), int(now.timestamp()),
                   dict(counter_evidence), slash_status=row.status)  # fmt: skip
    pg = driver(conn)
    pg.execute(
        "INSERT INTO slash_appeals (penalty_id, filed_at, counter_evidence) VALUES (%s, %s, %s) "
        "ON CONFLICT (penalty_id) DO NOTHING",
        (penalty_id, now, orjson.dumps(dict(counter_evidence)).decode()),
    )
    return appeal_state(conn, penalty_id)


def appeal_state(conn: Connection, penalty_id: str) -> dict[str, Any]:
    pg = driver(conn)
    row = pg.execute(
        "SELECT filed_at, counter_evidence FROM slash_appeals WHERE penalty_id = %s",
        (penalty_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no appeal of penalty {penalty_id}", code="appeal_not_found")
    votes = dict(
        pg.execute(
            "SELECT governor, vote FROM slash_appeal_votes WHERE penalty_id = %s ORDER BY governor",
            (penalty_id,),
        ).fetchall()
    )
    return {"penalty_id": penalty_id, "filed_at": row[0], "counter_evidence": row[1],
            "votes": votes, "status": slashing.get_penalty(conn, penalty_id).status}  # fmt: skip


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
    """A governor votes ``uphold`` or ``void``; at quorum a void is carried out at once."""
    if governor not in governors:
        raise Forbidden(
            f"governor: {governor!r} is not a governor", field="governor", code="not_a_governor"
        )
    if choice not in (sl.VOTE_UPHOLD, sl.VOTE_VOID):
        raise InvalidInput("vote: uphold or void", field="vote", code="invalid_vote")  # fmt: skip
    state = appeal_state(conn, penalty_id)
    if state["status"] != "pending":
        raise Conflict(f"penalty {penalty_id} is {state['status']}", code="penalty_not_pending")
    previous = state["votes"].get(governor)
    if previous is not None and previous != choice:
        raise Conflict(f"{governor} already voted {previous}", code="vote_already_cast",
                       field="vote")  # fmt: skip
    driver(conn).execute(
        "INSERT INTO slash_appeal_votes (penalty_id, governor, vote, cast_at) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (penalty_id, governor, choice, now),
    )
    votes = {**state["votes"], governor: choice}
    outcome = sl.decide_appeal(votes, params.governance.quorum, governors=governors)
    if outcome == "voided":
        slashing.void_penalty(conn, penalty_id=penalty_id, now=now)
    return {**appeal_state(conn, penalty_id), "outcome": outcome}
