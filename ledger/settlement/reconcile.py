"""The reconciler: receipts, the ledger and the contracts compared; any drift halts settlement
(issue 11 point 5, docs/settlement.md).

:func:`reconcile` lists every difference above zero between

- **receipts and the ledger**: per provider, the reward receipts' sum against the ledger's
  epoch-reward transfers (code 100);
- **the ledger and the contracts**, read at one block ``H`` (the head when it starts):
  the vault holds ``totalBonded + totalUnbonding`` tokens; each provider the watcher has seen
  on chain has ``bondedOf`` equal to its ``stake_bonded`` mirror; the distributor holds at
  least what the latest posted root still owes (leaf less claimed, per provider); the latest
  final ``RootPosted`` root is the ledger's root of that epoch; ``claimed(account)`` equals the
  ledger's ``rewards_claimed`` credits.

The watcher mirrors only final blocks, so the contracts at ``H`` are ahead of the ledger by the
events after the cursor: those are read too and bridge the gap (a stake 10 blocks old is not a
drift). Likewise a slash the ledger executed whose ``Slashed`` event is not on chain yet adds
its bonded part back (it is on its way through the outbox).

Every report is stored (``settlement_reconciliations``); while the latest one has a drift,
:func:`halted` is true and ``submit_due`` sends nothing, and the drift is logged at ERROR.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from sqlalchemy import Connection
from web3.exceptions import Web3RPCError

from ledger.accounting.domain import codes
from ledger.accounting.domain.accounts import AccountKind
from ledger.chain.contracts import contract_at
from ledger.settlement.domain import bytes32
from ledger.settlement.repository import SettlementRepository
from ledger.settlement.service import Chain
from ledger.settlement.watcher import RANGE_BLOCKS, ChainEvent, fetch_events

log = logging.getLogger(__name__)

#: Blocks after the cursor the reconciler reads to bridge the gap; beyond, the watcher is
#: behind and the per-provider chain checks wait (a note, not a drift).
MAX_GAP_BLOCKS: Final = 20 * RANGE_BLOCKS
#: Attempts at reading the contracts at one block (a new block may replace the head meanwhile).
SNAPSHOT_ATTEMPTS: Final = 3


@dataclass(frozen=True, slots=True)
class Drift:
    """One difference: which check, between which sources, about whom, expected and got."""

    check: str
    source: str
    subject: str
    expected: str
    got: str


@dataclass(frozen=True)
class Report:
    at: dt.datetime
    ok: bool
    drifts: list[Drift]
    notes: list[str] = field(default_factory=list)
    head_block: int | None = None
    indexed_block: int | None = None
    id: int | None = None


def differences(check: str, source: str, expected: dict[str, int], got: dict[str, int]
                ) -> list[Drift]:  # fmt: skip
    """A drift for every key whose values differ (a missing key is 0), sorted by key."""
    return [
        Drift(check, source, k, str(expected.get(k, 0)), str(got.get(k, 0)))
        for k in sorted(set(expected) | set(got))
        if expected.get(k, 0) != got.get(k, 0)
    ]


def pending_deltas(events: Iterable[ChainEvent]) -> tuple[dict[str, int], dict[str, int]]:
    """What events after the cursor change, per provider: bonded stake and claimed amount."""
    bonded: dict[str, int] = defaultdict(int)
    claimed: dict[str, int] = defaultdict(int)
    for ev in events:
        a = ev.args
        if ev.event == "Staked":
            bonded[a["provider"]] += int(a["amount"])
        elif ev.event == "UnstakeRequested":
            bonded[a["provider"]] -= int(a["amount"])
        elif ev.event == "Slashed":
            bonded[a["provider"]] -= int(a["fromBonded"])
        elif ev.event == "Claimed":
            claimed[a["account"]] += int(a["amount"])
    return dict(bonded), dict(claimed)


def _balance(pair: tuple[int, int] | None) -> int:
    return 0 if pair is None else pair[0] - pair[1]


def halted(conn: Connection) -> bool:
    """True while the latest reconciliation found a drift: settlement sends nothing."""
    return SettlementRepository(conn).halted()


def reconcile(conn: Connection, chain: Chain, *, now: dt.datetime | None = None) -> Report:
    """Compare receipts, the ledger and the contracts; store and return the report."""
    at = now or dt.datetime.now(dt.UTC)
    repo = SettlementRepository(conn)
    drifts = differences(
        "accruals", "reward_receipts vs ledger reward transfers",
        repo.receipt_totals(), repo.reward_transfer_totals(codes.REWARD),
    )  # fmt: skip
    notes: list[str] = []
    indexed = repo.indexed_to()
    head, chain_drifts, chain_notes = _snapshot(repo, chain, indexed)
    drifts += chain_drifts
    notes += chain_notes
    report_id = repo.insert_reconciliation(
        now=at, ok=not drifts, head_block=head, indexed_block=indexed,
        drifts=[asdict(d) for d in drifts], notes=notes,
    )  # fmt: skip
    if drifts:
        log.error(
            "settlement halted: reconciliation %d found %d drift(s): %s", report_id, len(drifts),
            "; ".join(f"{d.check} {d.subject}: expected {d.expected}, got {d.got}"
                      for d in drifts[:20]),
        )  # fmt: skip
    return Report(at, not drifts, drifts, notes, head, indexed, report_id)


def _snapshot(repo: SettlementRepository, chain: Chain, indexed: int | None
              ) -> tuple[int, list[Drift], list[str]]:  # fmt: skip
    """The chain checks, all read at one block (again if a new head replaced it meanwhile)."""
    for _ in range(SNAPSHOT_ATTEMPTS - 1):
        try:
            return _against_chain(repo, chain, indexed)
        except _HeadMoved:
            continue
    return _against_chain(repo, chain, indexed)


class _HeadMoved(Exception):
    """The block read from went away (a new head on a node that keeps only the latest state)."""


def _at(fn: Any, block: int) -> Any:
    try:
        return fn.call(block_identifier=block)
    except (Web3RPCError, ValueError) as exc:  # the state of ``block`` is gone
        raise _HeadMoved(str(exc)) from exc


def _against_chain(repo: SettlementRepository, chain: Chain, indexed: int | None
                   ) -> tuple[int, list[Drift], list[str]]:  # fmt: skip
    w3 = chain.w3
    head = int(w3.eth.block_number)
    vault = contract_at(w3, "StakingVault", chain.vault)
    dist = contract_at(w3, "RewardsDistributor", chain.distributor)
    token = contract_at(w3, "SwarmToken", _at(vault.functions.token(), head))
    drifts: list[Drift] = []
    notes: list[str] = []

    held = int(_at(token.functions.balanceOf(vault.address), head))
    owed = int(_at(vault.functions.totalBonded(), head)) + int(
        _at(vault.functions.totalUnbonding(), head)
    )
    if held != owed:
        source = "token.balanceOf(vault) vs totalBonded + totalUnbonding"
        drifts.append(Drift("vault_balance", source, chain.vault.lower(), str(owed), str(held)))

    if indexed is None:
        notes.append("watcher_not_started: per-provider chain checks skipped")
        return head, drifts, notes
    start = indexed + 1
    if head - start + 1 > MAX_GAP_BLOCKS:
        notes.append(f"watcher_behind: indexed to {indexed}, head {head}: per-provider "
                     "chain checks skipped")  # fmt: skip
        return head, drifts, notes
    pending: list[ChainEvent] = []
    for frm in range(start, head + 1, RANGE_BLOCKS):
        pending += fetch_events(chain, frm, min(head, frm + RANGE_BLOCKS - 1))
    bonded_delta, claimed_delta = pending_deltas(pending)
    final = repo.chain_events()

    # Bonded stake, per provider seen on chain that the ledger knows.
    bonded = repo.balances_of_kind(AccountKind.STAKE_BONDED)
    seen = {e["args"]["provider"] for e in final if e["event"] in
            ("Staked", "UnstakeRequested", "Withdrawn", "Slashed")} | set(bonded_delta)  # fmt: skip
    # A slash the ledger executed whose Slashed event is not final yet: the ledger's bonded
    # stake is already without it, the chain's is not (or the pending Slashed log takes it).
    applied = {
        str(e["args"]["slashId"]).removeprefix("0x") for e in final if e["event"] == "Slashed"
    }
    in_flight: dict[str, int] = defaultdict(int)
    for key, payload in repo.outbox_slashes():
        if bytes32(payload["slash_id"]).hex() not in applied:
            in_flight[payload["provider"]] += repo.transfer_amount(f"slash:{key}:stake") or 0
    expected_bonded, got_bonded = {}, {}
    for p in sorted(seen):
        if p not in bonded:
            notes.append(f"unknown_staker: {p} staked on chain and is not a provider")
            continue
        expected_bonded[p] = _balance(bonded[p]) + bonded_delta.get(p, 0) + in_flight.get(p, 0)
        got_bonded[p] = int(_at(vault.functions.bondedOf(w3.to_checksum_address(p)), head))
    drifts += differences("bonded", "ledger stake_bonded vs vault.bondedOf",
                          expected_bonded, got_bonded)  # fmt: skip

    # Roots: the latest final one is the ledger's.
    roots = [e for e in final if e["event"] == "RootPosted"]
    if roots:
        last = roots[-1]["args"]
        epoch, root = int(last["epoch"]), str(last["root"])
        mine = repo.ledger_root(epoch)
        expected = "0x" + mine.hex() if mine is not None else "(no closed epoch)"
        if expected != root:
            drifts.append(Drift("root", "ledger reward_epochs vs RootPosted", f"epoch {epoch}",
                                expected, root))  # fmt: skip

    # The latest root on chain: the leaves it commits to (its providers may claim).
    leaves: dict[str, int] = {}
    latest: int | None = None
    if _at(dist.functions.anyRootPosted(), head):
        latest = int(_at(dist.functions.latestEpoch(), head))
        leaves = repo.leaves_of(latest)
        if not leaves:
            notes.append(f"no_leaves: the ledger has no leaves of epoch {latest}")

    # Claims: claimed on chain is the ledger's rewards_claimed credits (for every provider of
    # the latest root, every provider the ledger or the chain says claimed).
    claimed_ledger = {p: c for p, (c, _) in repo.balances_of_kind(AccountKind.REWARDS_CLAIMED)
                      .items() if c}  # fmt: skip
    claimers = (
        set(leaves)
        | set(claimed_ledger)
        | set(claimed_delta)
        | {e["args"]["account"] for e in final if e["event"] == "Claimed"}
    )
    expected_claimed = {p: claimed_ledger.get(p, 0) + claimed_delta.get(p, 0) for p in claimers}
    got_claimed = {
        p: int(_at(dist.functions.claimed(w3.to_checksum_address(p)), head)) for p in claimers
    }
    drifts += differences("claimed", "ledger rewards_claimed vs distributor.claimed",
                          expected_claimed, got_claimed)  # fmt: skip

    # Solvency: the distributor holds what the latest root on chain still owes.
    if latest is not None:
        owed_rewards = sum(max(0, amount - got_claimed[p]) for p, amount in leaves.items())
        balance = int(_at(token.functions.balanceOf(dist.address), head))
        if balance < owed_rewards:
            drifts.append(Drift("distributor_solvency", "token.balanceOf(distributor) vs "
                                f"leaves of epoch {latest} less claimed", chain.distributor.lower(),
                                f">= {owed_rewards}", str(balance)))  # fmt: skip
    return head, drifts, notes
