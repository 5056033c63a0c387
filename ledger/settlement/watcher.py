"""The chain watcher: the contracts' events, after finality, recorded once and mirrored into the
ledger (issue 11 point 5, docs/settlement.md).

:func:`index_final` reads the vault's ``Staked``, ``UnstakeRequested``, ``Withdrawn`` and
``Slashed`` and the distributor's ``RootPosted`` and ``Claimed`` logs from the block after the
last one indexed up to the chain's ``finalized`` block (``head - confirmations + 1`` on a chain
without the tag), in ranges of :data:`RANGE_BLOCKS`. One range is one database transaction:
its events are recorded (``chain_events``, unique by tx hash and log index), mirrored, and the
cursor advanced, together; a crash leaves the range to the next run.

Mirroring, with deterministic ids so a second pass books nothing twice:

- ``Staked``: ``bond_stake`` with bond id ``chain:<tx>:<log index>``, at the block's time;
- ``UnstakeRequested``: ``request_unbond`` with request id ``chain:<entryId>`` and the vault's
  own unbonding period (``releaseAt`` less the block's time);
- ``Withdrawn``: ``withdraw`` of ``chain:<entryId>``;
- ``Claimed``: ``rewards_claimable -> rewards_claimed`` of ``amount`` (code 102), id
  ``claim:<tx>:<log index>``;
- ``Slashed`` and ``RootPosted``: recorded only (the reconciler compares them).

An event the ledger refuses (an unknown provider, a lock tier the parameters do not have, a
ledger limit) is recorded ``refused`` with the reason, in a savepoint: the watcher never
crashes on one and never skips one silently.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hexbytes import HexBytes
from sqlalchemy import Connection
from web3 import Web3
from web3.exceptions import BlockNotFound, Web3RPCError

from ledger.accounting.domain import codes
from ledger.accounting.domain.accounts import AccountKind
from ledger.accounting.domain.transfers import TransferRequest
from ledger.chain.contracts import contract_at
from ledger.kit.db import driver
from ledger.kit.errors import SwarmError
from ledger.params.domain import DEFAULT_PARAMS, ParameterSet
from ledger.settlement import keepers
from ledger.settlement.repository import SettlementRepository
from ledger.settlement.service import Chain, Transaction

log = logging.getLogger(__name__)

#: Blocks per ``eth_getLogs`` call (and per database transaction).
RANGE_BLOCKS: Final = 2_000
#: Ranges indexed per run at most (a run stays bounded after a long outage).
MAX_RANGES_PER_RUN: Final = 50
DAY_S: Final = 86_400

EVENTS: Final = (
    ("vault", "StakingVault", ("Staked", "UnstakeRequested", "Withdrawn", "Slashed")),
    ("distributor", "RewardsDistributor", ("RootPosted", "Claimed")),
)


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One log, decoded: ``args`` as plain JSON (integers and bytes as strings, addresses in
    lower case)."""

    contract: str
    event: str
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    args: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.tx_hash}:{self.log_index}"


# --- pure rules ----------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A decoded event argument as JSON: ints as decimal strings, bytes as 0x hex, addresses
    (0x and 40 hex digits) in lower case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") and len(value) == 42 else value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    raise TypeError(f"unexpected event argument {value!r}")


def final_block(head: int, finalized: int | None, confirmations: int) -> int:
    """The last block the watcher may index: the ``finalized`` tag, else the newest block
    with ``confirmations`` blocks on it (the block itself counts), -1 when there is none."""
    if finalized is not None:
        return min(finalized, head)
    return head - max(confirmations, 1) + 1


def next_range(indexed_to: int | None, start_block: int, final: int,
               size: int = RANGE_BLOCKS) -> tuple[int, int] | None:  # fmt: skip
    """The next range to index (inclusive bounds), or None when everything final is indexed."""
    frm = start_block if indexed_to is None else indexed_to + 1
    if frm > final:
        return None
    return frm, min(final, frm + size - 1)


def lock_tier_name(days: int, params: ParameterSet) -> str | None:
    """The parameter set's commitment tier whose lock is exactly ``days`` days (None if none)."""
    for tier in params.multipliers.commitment_tiers:
        if tier.lock_s == days * DAY_S:
            return tier.name
    return None


# --- reading the chain ---------------------------------------------------------------------


def chain_final_block(chain: Chain) -> int:
    w3 = chain.w3
    head = int(w3.eth.block_number)
    try:
        finalized: int | None = int(w3.eth.get_block("finalized")["number"])
    except (BlockNotFound, Web3RPCError, ValueError):  # no finalized tag: confirmations decide
        finalized = None
    return final_block(head, finalized, chain.confirmations)


def _hex(value: Any) -> str:
    return "0x" + bytes(HexBytes(value)).hex()


def fetch_events(chain: Chain, from_block: int, to_block: int) -> list[ChainEvent]:
    """Every watched event of both contracts in ``[from_block, to_block]``, in chain order."""
    out: list[ChainEvent] = []
    for contract, artifact, names in EVENTS:
        address = chain.vault if contract == "vault" else chain.distributor
        c = contract_at(chain.w3, artifact, address)
        for name in names:
            for e in c.events[name].get_logs(from_block=from_block, to_block=to_block):
                out.append(ChainEvent(
                    contract, name, _hex(e["transactionHash"]), int(e["logIndex"]),
                    int(e["blockNumber"]), _hex(e["blockHash"]),
                    {k: plain(v) for k, v in dict(e["args"]).items()},
                ))  # fmt: skip
    out.sort(key=lambda ev: (ev.block_number, ev.log_index))
    return out


# --- indexing ------------------------------------------------------------------------------


def index_final(
    transaction: Transaction,
    chain: Chain,
    *,
    now: dt.datetime,
    start_block: int = 0,
    params: ParameterSet | None = None,
    max_ranges: int = MAX_RANGES_PER_RUN,
) -> int:
    """Index every final block not indexed yet (at most ``max_ranges`` ranges); returns how
    many events were recorded now. ``start_block`` is where a first run begins (the
    deployment's block)."""
    ps = params or DEFAULT_PARAMS
    final = chain_final_block(chain)
    recorded = 0
    times: dict[int, dt.datetime] = {}
    for _ in range(max_ranges):
        with transaction() as conn:
            repo = SettlementRepository(conn)
            repo.lock_watcher()
            span = next_range(repo.indexed_to(), start_block, final)
            if span is None:
                break
            frm, to = span
            events = fetch_events(chain, frm, to)
            for ev in events:
                if repo.chain_event_known(ev.tx_hash, ev.log_index):
                    continue
                at = _block_time(chain.w3, ev.block_number, times)
                mirror, transfer_id, reason = _mirror(conn, ev, at, ps)
                if mirror == "refused":
                    log.warning("chain event %s %s not mirrored: %s", ev.event, ev.ref, reason)
                recorded += repo.insert_chain_event(
                    tx_hash=ev.tx_hash, log_index=ev.log_index, block_number=ev.block_number,
                    block_hash=ev.block_hash, block_time=at, contract=ev.contract,
                    event=ev.event, args=ev.args, mirror=mirror, transfer_id=transfer_id,
                    reason=reason, now=now,
                )  # fmt: skip
            to_hash = _hex(chain.w3.eth.get_block(to)["hash"])
            repo.advance_cursor(frm, to, to_hash, len(events), now)
    return recorded


def _block_time(w3: Web3, number: int, cache: dict[int, dt.datetime]) -> dt.datetime:
    if number not in cache:
        ts = int(w3.eth.get_block(number)["timestamp"])
        cache[number] = dt.datetime.fromtimestamp(ts, dt.UTC)
    return cache[number]


def _mirror(conn: Connection, ev: ChainEvent, at: dt.datetime, params: ParameterSet
            ) -> tuple[str, str | None, str | None]:  # fmt: skip
    """(mirror status, transfer id, reason) of one event, its ledger writes in a savepoint."""
    if ev.event in ("Slashed", "RootPosted"):
        return "recorded", None, None
    try:
        with driver(conn).transaction():  # a savepoint: a refusal leaves nothing behind
            transfer_id, reason = _book(conn, ev, at, params)
    except SwarmError as exc:
        return "refused", None, f"{exc.code}: {exc.message}"[:500]
    except Exception as exc:  # anything else the ledger refused: recorded, never fatal
        log.exception("chain event %s %s failed to mirror", ev.event, ev.ref)
        return "refused", None, f"{type(exc).__name__}: {exc}"[:500]
    if transfer_id is None:
        return "refused", None, reason
    return "mirrored", transfer_id, reason


def _book(conn: Connection, ev: ChainEvent, at: dt.datetime, params: ParameterSet
          ) -> tuple[str | None, str | None]:  # fmt: skip
    """Book one event; (transfer id, note) or (None, reason it cannot be booked)."""
    a: Mapping[str, Any] = ev.args
    if ev.event == "Claimed":
        return _claim(conn, ev, at)
    provider = str(a["provider"])
    if ev.event == "Staked":
        tier = lock_tier_name(int(a["lockTierDays"]), params)
        if tier is None:
            return None, f"unknown_lock_tier: {a['lockTierDays']} days"
        t = keepers.bond_stake(
            conn, provider_id=provider, amount_base_units=int(a["amount"]),
            bond_id=f"chain:{ev.ref}", now=at, lock_tier=tier, params=params,
        )  # fmt: skip
        return t.id, None
    if ev.event == "UnstakeRequested":
        period = max(0, int(a["releaseAt"]) - int(at.timestamp()))
        t = keepers.request_unbond(
            conn, provider_id=provider, amount_base_units=int(a["amount"]),
            request_id=f"chain:{a['entryId']}", now=at, params=params,
            unbonding_period_override_s=period,
        )  # fmt: skip
        return t.id, None
    if ev.event == "Withdrawn":
        t = keepers.withdraw(conn, provider_id=provider, request_id=f"chain:{a['entryId']}",
                             now=at)  # fmt: skip
        note = None
        if t.amount != int(a["amount"]):
            note = f"amount_differs: ledger {t.amount}, chain {a['amount']}"
        return t.id, note
    raise AssertionError(ev.event)


def _claim(conn: Connection, ev: ChainEvent, at: dt.datetime) -> tuple[str | None, str | None]:
    a = ev.args
    account = str(a["account"])
    repo = SettlementRepository(conn)
    claimable = repo.provider_account(account, AccountKind.REWARDS_CLAIMABLE)
    claimed = repo.provider_account(account, AccountKind.REWARDS_CLAIMED)
    if claimable is None or claimed is None:
        return None, f"provider_not_found: {account} has no reward accounts"
    t = keepers.create_transfer(
        conn,
        TransferRequest(
            f"claim:{ev.ref}", claimable, claimed, int(a["amount"]), codes.REWARD_CLAIMED,
            epoch=int(a["epoch"]),
            metadata={"provider_id": account, "payout": str(a["payout"]),
                      "cumulative_base_units": str(a["cumulativeAmount"]),
                      "tx_hash": ev.tx_hash, "log_index": ev.log_index},
        ),
        now=at,
    )  # fmt: skip
    return t.id, None
