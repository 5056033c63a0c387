"""Slashing on the ledger: record violations, decide penalties, hold, execute or void the slash.

The matrix itself is the pure ``ledger.slashing.domain``; this service feeds it from the
database and moves the money (SPEC 6):

- A penalty with a slash places PENDING transfers into ``slash_escrow`` at once, unclaimed
  rewards first (``slash:<penalty id>:rewards``), then bonded stake (``...:stake``), then the
  unbonding entries at risk, one hold per entry (``...:unbonding:<n>``, naming the entry), and
  the ladder's withheld reward (``...:withheld``). Who pays is the staking domain's
  ``charge_stake``. Nothing is posted during the appeal window.
- ``execute_due`` posts the holds after the appeal deadline and splits what was escrowed
  50 / 30 / 20 into insurance pool, treasury and burn (``split_slashed``: exact sum).
- ``void_penalty`` voids the holds while the penalty is held (every balance and entry as
  before) and re-decides later ladder decisions that counted it; ``refund_executed``
  overturns an executed penalty, refunding each hold to the account and entry it came from.

Every transfer id is derived from the penalty id, which is derived from the violation id (the
evidence), so retries and duplicate reports never slash twice. Services run inside the caller's
transaction and never commit; time is an argument. What this needs from other modules is
declared in ``ledger.slashing.keepers``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection

from ledger.accounting.domain import codes
from ledger.accounting.domain.transfers import TransferKind, TransferRequest
from ledger.kit import outbox
from ledger.kit.errors import Conflict, InvalidInput, NotFound
from ledger.kit.limits import EXECUTE_LIMIT
from ledger.params.domain import DEFAULT_PARAMS, ParameterSet
from ledger.params.domain.epochs import epoch_end, require_settled
from ledger.slashing import domain as sl
from ledger.slashing import keepers
from ledger.slashing.repository import PenaltyRow, SlashingRepository
from ledger.staking import domain as sl_stake

#: Hold parts in the order they are taken: rewards first, then bonded, then unbonding stake.
HOLD_PARTS: Final[tuple[tuple[str, str], ...]] = (
    ("rewards", "rewards_accrued"),
    ("stake", "stake_bonded"),
    ("unbonding", "stake_unbonding"),
)
REPORTABLE_KINDS: Final[frozenset[sl.ViolationKind]] = frozenset(
    {
        sl.ViolationKind.SECURITY_BREACH,
        sl.ViolationKind.MALICIOUS_ACTIVITY,
        sl.ViolationKind.RESOURCE_HOARDING,
    }
)


class PenaltyNotFound(NotFound):
    default_code = "penalty_not_found"


class PenaltyNotPending(Conflict):
    default_code = "penalty_not_pending"


_PENALTY_FIELD_NAMES: Final = tuple(f.name for f in dataclasses.fields(sl.Penalty))


def hold_id(penalty_id: str, part: str) -> str:
    return f"slash:{penalty_id}:{part}"


def _ts(now: dt.datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return int(now.timestamp())


def _at(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _available(row: keepers.AccountRow) -> int:
    """Credit-normal balance less pending debits: what a new hold can still take."""
    return row.credits_posted - row.debits_posted - row.debits_pending


def _violation_values(
    v: sl.Violation, now: dt.datetime, waiver: sl.Waiver | None = None
) -> dict[str, Any]:
    return {
        "id": v.violation_id,
        "node_id": v.node_id,
        "provider_id": v.provider_id,
        "kind": v.kind,
        "klass": v.klass,
        "infraction_epoch": v.infraction_epoch,
        "infraction_at_s": v.infraction_at_s,
        "evidence": v.evidence_dict,
        "evidence_digest": v.evidence_digest,
        "severity": v.severity,
        "severity_units": v.severity_units,
        "duplicate_count": v.duplicate_count,
        "waived": waiver is not None,
        "waiver": None if waiver is None else dict(waiver.evidence),
        "recorded_at": now,
    }


@dataclasses.dataclass(slots=True)
class _Book:
    """What deciding and holding a provider's penalties reads from the ledger: its accounts,
    what a hold can still take from each (``available``), its unbonding entries with what is
    left of each, and its posted bonded-stake movements (for the stake at risk).

    Read once for every provider of a batch and kept current as the batch plans its holds
    (:func:`_take`), so the penalties of one provider decided together see each other's holds
    exactly as penalties decided one at a time see them in the ledger."""

    accounts: dict[str, keepers.AccountRow]
    available: dict[str, int]
    entries: list[sl_stake.UnbondingEntry]
    movements: list[tuple[float, int]]


def _books(conn: Connection, providers: Sequence[str], before: dt.datetime) -> dict[str, _Book]:
    """The books of ``providers`` (their unbonding entries locked for the transaction),
    with bonded movements before ``before``, in four queries whatever their number."""
    providers = sorted(set(providers))
    kinds = [kind for _, kind in HOLD_PARTS]
    accounts = keepers.LedgerRepository(conn).accounts_of(providers, kinds)
    for provider in providers:
        for kind in kinds:
            if kind not in accounts.get(provider, {}):
                raise InvalidInput(
                    f"provider_id: {provider} has no {kind} account",
                    code="provider_not_found",
                    field="provider_id",
                )
    entries = keepers.unbonding_entries_of(conn, providers)
    movements = keepers.StakingRepository(conn).bonded_movements_of(providers, before)
    return {
        p: _Book(
            accounts[p],
            {kind: max(0, _available(row)) for kind, row in accounts[p].items()},
            entries.get(p, []),
            movements.get(p, []),
        )
        for p in providers
    }


def _take(book: _Book, plan: list[_Hold]) -> None:
    """Keep ``book`` current after ``plan``'s holds (pending debits of its accounts and
    entries), as the ledger will be once they are placed."""
    for h in plan:
        book.available[h.kind] -= h.amount
        assert book.available[h.kind] >= 0
        if h.entry_id is not None:
            book.entries = [
                e._replace(remaining_base_units=e.remaining_base_units - h.amount)
                if e.entry_id == h.entry_id
                else e
                for e in book.entries
            ]


# --- deciding a penalty and holding its slash ------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Priors:
    """The node's history a decision counts: earlier poor-performance offences in the rolling
    window, and final malicious-activity penalties."""

    poor_performance: int = 0
    malicious: int = 0


def _priors(conn: Connection, violation: sl.Violation, params: ParameterSet) -> _Priors:
    repo = SlashingRepository(conn)
    if violation.klass == sl.ViolationClass.POOR_PERFORMANCE:
        history = repo.offence_history(
            violation.node_id, sl.ViolationClass.POOR_PERFORMANCE, violation.infraction_epoch
        )
        return _Priors(poor_performance=_count_window(history, violation, params))
    if violation.kind == sl.ViolationKind.MALICIOUS_ACTIVITY:
        return _Priors(
            malicious=repo.count_penalties(violation.node_id, sl.ViolationKind.MALICIOUS_ACTIVITY)
        )
    return _Priors()


def _count_window(
    history: list[tuple[int, bool]], violation: sl.Violation, params: ParameterSet
) -> int:
    return sl.count_offences(history, violation.infraction_at_s, params.slashing.offence_window_s)


def _decide(
    violation: sl.Violation,
    book: _Book,
    priors: _Priors,
    *,
    now: dt.datetime,
    params: ParameterSet,
    epoch_reward_base_units: int,
) -> sl.Penalty:
    """The domain's penalty for ``violation``, fed with the node's history and the ledger."""
    # The stake at risk is the stake bonded at the infraction: stake whose unbonding was
    # requested after it is still in this sum (SPEC 6; ledger.staking.domain.lifecycle).
    stake_at_risk = sl_stake.stake_at_risk_base_units(book.movements, violation.infraction_at_s)
    return sl.decide_penalty(
        violation,
        decided_at_s=_ts(now),
        prior_poor_performance_offences_in_window=priors.poor_performance,
        prior_malicious_count=priors.malicious,
        stake_at_risk_base_units=stake_at_risk,
        unclaimed_rewards_base_units=book.available["rewards_accrued"],
        epoch_reward_base_units=epoch_reward_base_units,
        params=params,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Hold:
    """One pending transfer of a penalty into slash escrow: its id, the provider account it
    takes from, the amount, and the unbonding entry it takes from (stake unbonding only)."""

    id: str
    kind: str
    amount: int
    entry_id: str | None = None


def _hold_plan(penalty: sl.Penalty, book: _Book) -> tuple[list[_Hold], int, int]:
    """The holds of a penalty, what no balance can cover of the slash (uncollected) and of the
    withheld reward.

    Rewards first (the domain capped ``from_rewards`` at the available rewards); the stake part
    through the staking domain's ``charge_stake``: bonded stake first, then the unbonding
    entries requested at or after the infraction, oldest first. The ladder's withheld reward
    (``reward_withheld_base_units``) is held from what is left of the unclaimed rewards, like a
    slash (issue 9, point 2).
    """
    rewards_available = book.available["rewards_accrued"]
    assert penalty.from_rewards_base_units <= rewards_available, "rewards first, as available"
    pid = penalty.penalty_id
    holds = [_Hold(hold_id(pid, "rewards"), "rewards_accrued", penalty.from_rewards_base_units)]
    charge = sl_stake.charge_stake(
        penalty.from_stake_base_units,
        book.available["stake_bonded"],
        book.entries,
        penalty.infraction_at_s,
    )
    holds.append(_Hold(hold_id(pid, "stake"), "stake_bonded", charge.from_bonded_base_units))
    for n, (entry_id, amount) in enumerate(charge.from_entries, start=1):
        holds.append(_Hold(hold_id(pid, f"unbonding:{n}"), "stake_unbonding", amount, entry_id))
    withheld = min(
        penalty.reward_withheld_base_units, rewards_available - penalty.from_rewards_base_units
    )
    holds.append(_Hold(hold_id(pid, "withheld"), "rewards_accrued", withheld))
    kept = [h for h in holds if h.amount > 0]
    slashed = sum(h.amount for h in kept if not h.id.endswith(":withheld"))
    # The holds and what is left uncollected sum to the slash, base unit for base unit.
    assert slashed + charge.uncollected_base_units == penalty.slash_base_units
    return kept, charge.uncollected_base_units, penalty.reward_withheld_base_units - withheld


def _hold_requests(
    penalty: sl.Penalty, book: _Book, plan: list[_Hold], escrow: int
) -> list[TransferRequest]:
    """PENDING transfers of the plan into slash escrow (placed by the caller, in one batch)."""
    return [
        TransferRequest(
            h.id, book.accounts[h.kind].id, escrow, h.amount, codes.SLASH_HOLD,
            kind=TransferKind.PENDING, epoch=penalty.infraction_epoch,
            metadata=_hold_meta(penalty.penalty_id, penalty.node_id, h.entry_id),
        )
        for h in plan
    ]  # fmt: skip


def _hold_meta(penalty_id: str, node_id: str, entry_id: str | None) -> dict[str, str]:
    """Metadata of a hold and of every transfer resolving or refunding it."""
    meta = {"penalty_id": penalty_id, "node_id": node_id}
    if entry_id is not None:
        meta["unbond_transfer_id"] = entry_id
    return meta


def _penalty_values(
    penalty: sl.Penalty,
    plan: list[_Hold],
    uncollected: int,
    withheld_uncollected: int,
    now: dt.datetime,
) -> dict[str, Any]:
    """The slash_penalties row of a decided penalty (its document: the whole decision)."""
    # Every field of the (flat) Penalty; tuples become JSON lists, enums their values.
    document = {f: getattr(penalty, f) for f in _PENALTY_FIELD_NAMES} | {
        "holds": {h.id: h.amount for h in plan},
        "hold_accounts": {h.id: h.kind for h in plan},
        "hold_entries": {h.id: h.entry_id for h in plan if h.entry_id is not None},
        "uncollected_base_units": uncollected,
        "withheld_uncollected_base_units": withheld_uncollected,
    }
    # Every sanction can be appealed (issue 15, point 5): a penalty that jails, tombstones or
    # withholds a reward is pending through its appeal window even when it holds no money.
    held = bool(plan) or (
        penalty.jail
        or penalty.tombstone
        or penalty.slash_base_units > 0
        or penalty.reward_withheld_base_units > 0
    )
    return {
        "id": penalty.penalty_id,
        "violation_id": penalty.violation_id,
        "node_id": penalty.node_id,
        "provider_id": penalty.provider_id,
        "kind": penalty.kind,
        "klass": penalty.klass,
        "infraction_epoch": penalty.infraction_epoch,
        "infraction_at_s": penalty.infraction_at_s,
        "outcome": penalty.outcome,
        "offence_number": penalty.offence_number,
        "slash_fraction_ppm": penalty.slash_fraction_ppm,
        "stake_at_risk_base_units": penalty.stake_at_risk_base_units,
        "slash_base_units": penalty.slash_base_units,
        "from_rewards_base_units": penalty.from_rewards_base_units,
        "from_stake_base_units": penalty.from_stake_base_units,
        "jail_until_s": penalty.jail_until_s,
        "tombstone": penalty.tombstone,
        "appeal_deadline_s": penalty.appeal_deadline_s,
        "status": sl.SlashStatus.HELD if held else sl.SlashStatus.WARNING,
        "rule": penalty.rule,
        "decided_at": now,
        "document": document,
    }


def _decide_and_hold(
    conn: Connection,
    violation: sl.Violation,
    *,
    now: dt.datetime,
    params: ParameterSet,
    epoch_reward_base_units: int = 0,
) -> PenaltyRow:
    """Decide the penalty of a recorded violation, place its holds and record it (once)."""
    existing = SlashingRepository(conn).penalty_of_violation(violation.violation_id)
    if existing is not None:
        return existing
    (row,) = _decide_and_hold_many(
        conn, [(violation, epoch_reward_base_units)], now=now, params=params,
        priors={violation.violation_id: _priors(conn, violation, params)},
    )  # fmt: skip
    return row


def _decide_and_hold_many(
    conn: Connection,
    violations: Sequence[tuple[sl.Violation, int]],
    *,
    now: dt.datetime,
    params: ParameterSet,
    priors: Mapping[str, _Priors],
) -> list[PenaltyRow]:
    """Decide recorded violations (each with its epoch reward and the node's ``priors``, keyed
    by violation id) in order, then place every hold in one batch and record every penalty in
    one statement: a handful of queries for thousands of penalties (issue 10, point 13).

    Violations already decided are skipped. Two penalties of one provider see each other's
    holds through the provider's book, exactly as if decided one at a time."""
    repo = SlashingRepository(conn)
    done = repo.decided_violations([v.violation_id for v, _ in violations])
    todo = [(v, r) for v, r in violations if v.violation_id not in done]
    if not todo:
        return []
    latest = max(v.infraction_at_s for v, _ in todo)
    books = _books(conn, [v.provider_id for v, _ in todo], _at(latest + 1))
    requests: list[TransferRequest] = []
    rows: list[dict[str, Any]] = []
    escrow: int | None = None
    for violation, reward in todo:
        book = books[violation.provider_id]
        penalty = _decide(
            violation, book, priors[violation.violation_id], now=now, params=params,
            epoch_reward_base_units=reward,
        )  # fmt: skip
        plan, uncollected, withheld_uncollected = _hold_plan(penalty, book)
        if plan and escrow is None:
            escrow = keepers.open_system_accounts(conn)["slash_escrow"]
        if plan:
            assert escrow is not None
            requests += _hold_requests(penalty, book, plan, escrow)
        _take(book, plan)
        rows.append(_penalty_values(penalty, plan, uncollected, withheld_uncollected, now))
    if requests:
        keepers.create_transfers(conn, requests, now=now)
    return repo.insert_penalties(rows)


# --- evaluating an epoch ---------------------------------------------------------------------


def _record_performance(
    conn: Connection,
    epoch: int,
    nodes: list[keepers.NodeAsOf],
    *,
    now: dt.datetime,
    params: ParameterSet,
) -> list[sl.Violation]:
    """Detect the epoch's poor-performance findings, waive correlated outages, record both;
    returns the findings that stand."""
    repo = SlashingRepository(conn)
    rollups = keepers.epoch_rollups(conn, epoch, params, [n[0] for n in nodes])
    epoch_start_s = epoch * params.epoch.epoch_length_s
    region_of = {n[0]: n[3] for n in nodes}
    active_by_region = Counter(n[3] for n in nodes)
    findings: list[sl.Violation] = []
    for node_id, provider_id, ptype, _region, _cap, _req in nodes:
        findings += sl.detect_performance_violations(
            rollups[node_id], params.provider_type(ptype).latency_target_ms, params,
            epoch_start_s, provider_id=provider_id,
        )  # fmt: skip
    kept, waivers = sl.waive_correlated_outages(findings, region_of, active_by_region, params)
    repo.insert_violations(
        [_violation_values(v, now) for v in kept]
        + [_violation_values(w.violation, now, w) for w in waivers]
    )
    return kept


def _decide_performance(
    conn: Connection,
    epoch: int,
    kept: list[sl.Violation],
    *,
    now: dt.datetime,
    params: ParameterSet,
) -> list[PenaltyRow]:
    """One ladder offence per node with standing findings, decided with its epoch reward, all
    in one batch (the node's reward and its offence history read for every node at once)."""
    by_node: dict[str, list[sl.Violation]] = {}
    for v in kept:
        by_node.setdefault(v.node_id, []).append(v)
    offences = [
        o for o in (sl.performance_offence(by_node[n]) for n in sorted(by_node)) if o is not None
    ]
    if not offences:
        return []
    nodes = [o.node_id for o in offences]
    rewards = keepers.RewardsRepository(conn).node_amounts(epoch, nodes)
    history = SlashingRepository(conn).offence_histories(
        nodes, sl.ViolationClass.POOR_PERFORMANCE, epoch
    )
    priors = {
        o.violation_id: _Priors(
            poor_performance=_count_window(history.get(o.node_id, []), o, params)
        )
        for o in offences
    }
    return _decide_and_hold_many(
        conn, [(o, rewards.get(o.node_id, 0)) for o in offences], now=now, params=params,
        priors=priors,
    )  # fmt: skip


def _decide_sybil(
    conn: Connection,
    epoch: int,
    nodes: list[keepers.NodeAsOf],
    *,
    now: dt.datetime,
    params: ParameterSet,
) -> list[PenaltyRow]:
    """Duplicate hardware identities (Sybil): one incident per duplicate node, dated at its
    registration, so finding it again next epoch is the same incident. Duplicates whose
    identity is unique again pass their compliance check."""
    repo = SlashingRepository(conn)
    identities = keepers.RegistryRepository(conn).identities_as_of(epoch_end(epoch, params))
    sybils = sl.detect_sybil(
        {n: fp for n, (fp, _) in identities.items()},
        registered_at_s={n: at for n, (_, at) in identities.items()},
        provider_of={n[0]: n[1] for n in nodes},
        params=params,
    )
    decided = []
    for v in sybils:
        if repo.penalty_of_violation(v.violation_id) is not None:
            continue
        repo.insert_violation(_violation_values(v, now))
        decided.append(_decide_and_hold(conn, v, now=now, params=params, epoch_reward_base_units=0))
    _release_compliant_duplicates(conn, identities, sybils, now)
    return decided


def evaluate_epoch(
    conn: Connection,
    epoch: int,
    *,
    now: dt.datetime,
    params: ParameterSet,
    catch_up: bool = True,
) -> list[PenaltyRow]:
    """Detect the poor-performance offences of a settled epoch and decide their penalties.

    Returns the penalties decided by this call: a re-run records nothing new and returns [].
    ``catch_up`` rolls up every telemetry batch still queued first, in this transaction; the
    worker does it in a transaction of its own before (``False`` here), so the evaluation
    never holds a batch that ingestion's rollups wait for.
    """
    require_settled(epoch, now, params)
    if catch_up:
        keepers.catch_up(conn, now=now)  # every telemetry batch accepted is rolled up first
    SlashingRepository(conn).lock()
    nodes = keepers.RegistryRepository(conn).nodes_as_of(epoch_end(epoch, params))
    kept = _record_performance(conn, epoch, nodes, now=now, params=params)
    decided = _decide_performance(conn, epoch, kept, now=now, params=params)
    decided += _decide_sybil(conn, epoch, nodes, now=now, params=params)
    decided += _record_under_stake(conn, nodes, epoch, now=now, params=params)
    return decided


def _record_under_stake(
    conn: Connection,
    nodes: list[keepers.NodeAsOf],
    epoch: int,
    *,
    now: dt.datetime,
    params: ParameterSet,
) -> list[PenaltyRow]:
    """Under-stake is a protocol violation with no slash (the rewards stop after the grace):
    recorded once per streak (the evidence is when it began) so the provider can read why."""
    stake = keepers.stake_compliance(conn, nodes, epoch_end(epoch, params))
    required, bonded, since = stake.required, stake.bonded, stake.under_since
    repo = SlashingRepository(conn)
    out = []
    for node_id, provider_id, *_ in nodes:
        if provider_id not in since:
            continue
        start = since[provider_id]
        v = sl.make_violation(
            sl.ViolationKind.UNDER_STAKE, node_id=node_id, provider_id=provider_id,
            infraction_epoch=start // params.epoch.epoch_length_s, infraction_at_s=start,
            evidence={"under_stake_since_s": str(start),
                      "required_base_units": str(required[provider_id]),
                      "bonded_base_units_at_detection": str(bonded.get(provider_id, 0))},
        )  # fmt: skip
        # The evidence names the amounts at detection: only the first detection of a streak
        # is recorded (later epochs find a violation of the same node and start time).
        if repo.under_stake_recorded(node_id, start) or repo.penalty_of_violation(v.violation_id):
            continue
        repo.insert_violation(_violation_values(v, now))
        out.append(_decide_and_hold(conn, v, now=now, params=params, epoch_reward_base_units=0))
    return out


def _release_compliant_duplicates(
    conn: Connection,
    identities: Mapping[str, tuple[str, int]],
    still_duplicate: list[sl.Violation],
    now: dt.datetime,
) -> None:
    """Compliance verification of the Sybil path: a node jailed as a duplicate whose hardware
    identity is unique again (the other node left, or it re-registered its own hardware) passes
    its check automatically (idempotent: the release is keyed by the penalty)."""
    flagged = {v.node_id for v in still_duplicate}
    repo = SlashingRepository(conn)
    for p in repo.penalties_of_kind(sl.ViolationKind.DUPLICATE_HARDWARE):
        if p.status == sl.SlashStatus.VOIDED or p.node_id in flagged or p.node_id not in identities:
            continue
        release(conn, node_id=p.node_id, kind=sl.ReleaseKind.COMPLIANCE,
                reference=f"compliance:{p.id}", now=now)  # fmt: skip


def report_violation(
    conn: Connection,
    *,
    kind: str,
    node_id: str,
    evidence: Mapping[str, str],
    severity: str | None = None,
    severity_units: int = 0,
    now: dt.datetime,
    params: ParameterSet,
    infraction_at: dt.datetime | None = None,
) -> PenaltyRow:
    """Record a reported violation with evidence and decide its penalty (holds placed now).

    ``infraction_at`` (default ``now``) is when the incident happened: it fixes the infraction
    epoch and the stake at risk. The same evidence about the same node (and kind) is the same
    incident whatever time is named: the existing penalty is returned, nothing is slashed
    again.
    """
    if kind not in REPORTABLE_KINDS:
        raise InvalidInput(
            f"kind: one of {', '.join(sorted(REPORTABLE_KINDS))}", code="unknown_kind", field="kind"
        )
    node = keepers.RegistryRepository(conn).get_node(node_id)
    if node is None:
        raise NotFound(f"node {node_id} does not exist", code="node_not_found", field="node_id")
    infraction_s = _ts(infraction_at or now)
    if infraction_s > _ts(now):
        raise InvalidInput(
            "infraction_at: must not be in the future",
            code="infraction_in_future",
            field="infraction_at",
        )
    violation = sl.make_violation(
        kind,
        node_id=node_id,
        provider_id=node.provider_id,
        infraction_epoch=infraction_s // params.epoch.epoch_length_s,
        infraction_at_s=infraction_s,
        evidence=evidence,
        severity=severity,
        severity_units=severity_units,
    )
    repo = SlashingRepository(conn)
    repo.lock()
    # One slash per incident (issue 15, point 4): the incident is its evidence about the node,
    # not the time a report names, so the same evidence reported with another infraction time
    # returns the incident already decided.
    known = repo.incident_of(node_id, violation.kind, violation.evidence_digest)
    if known is not None:
        existing = repo.penalty_of_violation(known)
        if existing is not None:
            return existing
    repo.insert_violation(_violation_values(violation, now))
    return _decide_and_hold(conn, violation, now=now, params=params)


# --- settling a penalty: execute, void, refund -----------------------------------------------


def _holds(conn: Connection, penalty: PenaltyRow) -> dict[str, int]:
    """The penalty's hold transfers as stored in the ledger: id -> amount (the ids its document
    names, and the fixed parts of penalties decided before per-entry holds)."""
    ids = list(penalty.document.get("holds", {})) or [
        hold_id(penalty.id, part) for part, _ in HOLD_PARTS
    ]
    stored = keepers.LedgerRepository(conn).get_transfers(ids)
    return {i: stored[i].amount for i in ids if i in stored}


def _entry_of(penalty: PenaltyRow, hid: str) -> str | None:
    entry: str | None = penalty.document.get("hold_entries", {}).get(hid)
    return entry


def _outbox_slash(
    conn: Connection, penalty: PenaltyRow, holds: Mapping[str, int], now: dt.datetime
) -> None:
    """The stake part of an executed slash goes on chain (the vault holds the stake; the
    rewards part never left the ledger): one outbox item, in the execution's transaction. The
    vault takes bonded stake first, then the entries requested at or after the infraction,
    oldest first, as ``charge_stake`` did here; the slash id is the penalty id."""
    stake = sum(
        amount
        for hid, amount in holds.items()
        if hid == hold_id(penalty.id, "stake") or hid.startswith(hold_id(penalty.id, "unbonding"))
    )
    if stake > 0:
        outbox.put(
            conn, "slash", penalty.id,
            {"slash_id": penalty.id, "provider": penalty.provider_id,
             "amount_base_units": str(stake), "infraction_at_s": penalty.infraction_at_s},
            now,
        )  # fmt: skip


def _execute(
    conn: Connection,
    penalty: PenaltyRow,
    system: Mapping[str, int],
    *,
    now: dt.datetime,
    params: ParameterSet,
) -> dict[str, Any]:
    """Post the penalty's holds into escrow and split the escrowed amount out of it, in one
    linked batch; returns the settlement event's document."""
    holds = _holds(conn, penalty)
    total = sum(holds.values())
    withheld = holds.get(hold_id(penalty.id, "withheld"), 0)
    # What was held is the slash less what no account could cover when it was decided, plus
    # the withheld reward, which is split like slashed funds (issue 9, point 2).
    assert total - withheld + penalty.document["uncollected_base_units"] == penalty.slash_base_units
    split = sl.split_slashed(total, params)
    amounts = {
        "insurance": (split.insurance_base_units, system["insurance_pool"]),
        "treasury": (split.treasury_base_units, system["treasury"]),
        "burn": (split.burn_base_units, system["burn"]),
    }
    # Everything escrowed leaves escrow: the three parts sum to the holds exactly.
    assert sum(amount for amount, _ in amounts.values()) == total
    meta = {"penalty_id": penalty.id, "node_id": penalty.node_id}
    requests = [
        TransferRequest(
            f"{hid}:post", None, None, None, codes.SLASH_EXECUTE, kind=TransferKind.POST_PENDING,
            epoch=penalty.infraction_epoch, ref_id=hid,
            metadata=_hold_meta(penalty.id, penalty.node_id, _entry_of(penalty, hid)),
        )
        for hid in holds
    ] + [
        TransferRequest(
            hold_id(penalty.id, part), system["slash_escrow"], account, amount,
            codes.SLASH_SPLIT, epoch=penalty.infraction_epoch, metadata=meta,
        )
        for part, (amount, account) in amounts.items()
        if amount > 0
    ]  # fmt: skip
    if requests:
        keepers.create_transfers(conn, requests, now=now)
    _outbox_slash(conn, penalty, holds, now)
    return {
        "transfers": [r.id for r in requests],
        "escrowed_base_units": total,
        "insurance_base_units": split.insurance_base_units,
        "treasury_base_units": split.treasury_base_units,
        "burn_base_units": split.burn_base_units,
    }


def execute_due(
    conn: Connection,
    *,
    now: dt.datetime,
    params: ParameterSet,
    governors: frozenset[str] | None = None,
) -> int:
    """Execute held penalties whose appeal deadline has passed; returns how many.

    An appealed penalty executes only once its appeal is upheld, decided as the vote itself
    decides it (``decide_appeal``: uphold at quorum *and* void below it, counting only the
    votes of ``governors`` when given): a tied or deadlocked appeal stays pending.

    Posts every hold into ``slash_escrow`` and, in the same linked batch, splits the escrowed
    amount into insurance pool / treasury / burn (exact sum, remainder to insurance).
    """
    repo = SlashingRepository(conn)
    repo.lock()
    due = repo.due_penalty_ids(_ts(now), EXECUTE_LIMIT, params.governance.quorum)
    ids = [
        penalty_id
        for penalty_id, appealed in due
        if not appealed
        or sl.decide_appeal(
            repo.appeal_votes(penalty_id), params.governance.quorum, governors=governors
        )
        == sl.AppealStatus.UPHELD
    ]
    if not ids:
        return 0
    system = keepers.open_system_accounts(conn)
    done = 0
    for penalty_id in ids:
        penalty = repo.get_penalty(penalty_id)
        assert penalty is not None and penalty.status == sl.SlashStatus.HELD
        document = _execute(conn, penalty, system, now=now, params=params)
        if repo.insert_event(penalty.id, sl.SlashStatus.EXECUTED, now, document):
            done += 1
    return done


def void_penalty(
    conn: Connection, *, penalty_id: str, now: dt.datetime, params: ParameterSet | None = None
) -> PenaltyRow:
    """Void a held penalty (an upheld appeal): its holds are voided, balances restored, and
    every later ladder decision that counted it is re-decided (issue 15, point 6)."""
    _ts(now)
    repo = SlashingRepository(conn)
    repo.lock()
    penalty = repo.get_penalty(penalty_id)
    if penalty is None:
        raise PenaltyNotFound(f"penalty {penalty_id} does not exist", field="penalty_id")
    if penalty.status != sl.SlashStatus.HELD:
        raise PenaltyNotPending(
            f"penalty {penalty_id} is {penalty.status}; only a pending penalty can be voided",
            field="penalty_id",
        )
    _void_holds(conn, penalty, now, {})
    _redecide_dependents(conn, penalty, now=now, params=params or DEFAULT_PARAMS)
    row = repo.get_penalty(penalty_id)
    assert row is not None
    return row


def _void_holds(
    conn: Connection, penalty: PenaltyRow, now: dt.datetime, document: dict[str, Any]
) -> None:
    """Void every hold of a pending penalty and record it voided."""
    requests = [
        TransferRequest(
            f"{hid}:void", None, None, None, codes.SLASH_VOID, kind=TransferKind.VOID_PENDING,
            epoch=penalty.infraction_epoch, ref_id=hid,
            metadata=_hold_meta(penalty.id, penalty.node_id, _entry_of(penalty, hid)),
        )
        for hid in _holds(conn, penalty)
    ]  # fmt: skip
    if requests:
        keepers.create_transfers(conn, requests, now=now)
    SlashingRepository(conn).insert_event(
        penalty.id, sl.SlashStatus.VOIDED, now, {"transfers": [r.id for r in requests]} | document
    )


def _redecide_dependents(
    conn: Connection, voided: PenaltyRow, *, now: dt.datetime, params: ParameterSet
) -> None:
    """Re-decide the node's later poor-performance penalties, still pending, whose ladder count
    included ``voided`` (it was inside their rolling window): each is voided and decided again
    from the history as it now stands, as a re-decision of the same finding (its evidence
    names the original: ``redecision_of``). In decision order, so a chain of rungs unwinds
    one step at a time. Repeats of malicious activity need none: they count final penalties
    only."""
    if voided.klass != sl.ViolationClass.POOR_PERFORMANCE:
        return
    repo = SlashingRepository(conn)
    window = params.slashing.offence_window_s
    for q in repo.penalties_of_node(voided.node_id):
        counted_it = (
            q.klass == sl.ViolationClass.POOR_PERFORMANCE
            and q.infraction_epoch > voided.infraction_epoch
            and q.infraction_at_s - window < voided.infraction_at_s
            and q.offence_number > 1
        )
        if not counted_it or q.status != sl.SlashStatus.HELD:
            continue
        original = repo.get_violation(q.violation_id)
        assert original is not None
        again = sl.make_violation(
            q.kind, node_id=q.node_id, provider_id=q.provider_id,
            infraction_epoch=q.infraction_epoch, infraction_at_s=q.infraction_at_s,
            evidence={**original["evidence"], "redecision_of": q.violation_id},
        )  # fmt: skip
        _void_holds(conn, q, now, {"redecided_as": again.violation_id, "because": voided.id})
        repo.insert_violation(_violation_values(again, now))
        reward = int(q.document["epoch_reward_base_units"])
        _decide_and_hold(conn, again, now=now, params=params, epoch_reward_base_units=reward)


def get_penalty(conn: Connection, penalty_id: str) -> PenaltyRow:
    row = SlashingRepository(conn).get_penalty(penalty_id)
    if row is None:
        raise PenaltyNotFound(f"penalty {penalty_id} does not exist", field="penalty_id")
    return row


def penalties_of_node(conn: Connection, node_id: str) -> list[PenaltyRow]:
    return SlashingRepository(conn).penalties_of_node(node_id)


def violations_of_node(conn: Connection, node_id: str, limit: int) -> list[dict[str, Any]]:
    """Every recorded violation of the node, newest first, waived ones with their waiver."""
    return SlashingRepository(conn).violations_of_node(node_id, limit)


def refund_executed(
    conn: Connection, *, penalty_id: str, now: dt.datetime, params: ParameterSet | None = None
) -> list[str]:
    """Overturn an executed slash: pay every held unit back to the account it was taken from,
    out of the insurance pool (SPEC 6: the pool exists to refund overturned slashes), mark the
    penalty ``overturned`` and so lift the jail and the standing it imposed.

    The rewards part (and a withheld reward) go back to ``rewards_accrued``, the bonded part to
    ``stake_bonded``, each unbonding part to ``stake_unbonding`` and to the unbonding entry it
    was taken from (which becomes withdrawable again). Idempotent: the refund ids are derived
    from the hold ids; returns them. Refused while the pool holds less (``exceeds_credits``).
    """
    repo = SlashingRepository(conn)
    repo.lock()
    penalty = repo.get_penalty(penalty_id)
    if penalty is None:
        raise PenaltyNotFound(f"penalty {penalty_id} does not exist", code="penalty_not_found")
    if penalty.status == sl.SlashStatus.OVERTURNED:
        return list(repo.overturn_document(penalty.id).get("transfers", []))
    if penalty.status != sl.SlashStatus.EXECUTED:
        raise Conflict(f"penalty {penalty_id} is {penalty.status}, not executed",
                       code="penalty_not_executed", field="penalty_id")  # fmt: skip
    insurance = keepers.open_system_accounts(conn)["insurance_pool"]
    held = _holds(conn, penalty)
    stored = keepers.LedgerRepository(conn).get_transfers(list(held))
    requests = [
        TransferRequest(
            f"refund:{hid.removeprefix('slash:')}", insurance, stored[hid].debit_account_id,
            amount, codes.SLASH_REFUND, epoch=penalty.infraction_epoch,
            metadata=_hold_meta(penalty.id, penalty.node_id, _entry_of(penalty, hid))
            | {"hold_id": hid},
        )
        for hid, amount in held.items()
    ]  # fmt: skip
    # Every held (and so executed) unit goes back where it came from: refunds sum to the holds.
    assert sum(r.amount or 0 for r in requests) == sum(held.values())
    if requests:
        keepers.create_transfers(conn, requests, now=now)
    ids = [r.id for r in requests]
    repo.insert_overturn(penalty.id, now, {"transfers": ids, "refunded": held})
    _redecide_dependents(conn, penalty, now=now, params=params or DEFAULT_PARAMS)
    return ids


def release(conn: Connection, *, node_id: str, kind: str, reference: str, now: dt.datetime) -> int:
    """Record an approved review (``review``) or passed compliance check (``compliance``);
    the standing replay releases the node when nothing else keeps it jailed."""
    if kind not in tuple(sl.ReleaseKind):
        raise InvalidInput("kind: review or compliance", field="kind", code="invalid_release")
    return SlashingRepository(conn).insert_release(node_id, kind, now, reference)
