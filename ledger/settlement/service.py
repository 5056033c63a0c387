"""Settlement jobs: send the outbox's roots and slashes, follow them to finality (SPEC 8).

Two steps, each run by beat every few seconds on the ``settlement`` queue, each safe to run
twice at once and after any crash (docs/settlement.md):

- :func:`submit_due`: under the signer's nonce lock, the outbox items no transaction carries yet
  are built into transactions (one root per transaction; slashes in batches of
  ``SLASH_BATCH_SIZE``) with an explicit gas limit and fees within the cap, signed, and
  **recorded before they are sent**; then sent. A send that fails or times out leaves the
  recorded transaction: what happened is found out by its hash and nonce, never by a resend of
  something new.
- :func:`track`: every open transaction is looked up: included (with its block), final at the
  chain's ``finalized`` block (or after ``confirmations`` blocks where there is none), reverted
  (failed: a person must look), dropped (the same signed bytes sent again), stuck (replaced by
  the same call with the same nonce and +12.5% fees, within the cap), reorged out (sent again),
  or its nonce taken by another transaction (replaced: the items are sent again).

No epoch and no slash is settled twice: a transaction is only ever re-sent byte for byte or
replaced under its own nonce, so at most one of them is included; and the contracts refuse a
second root for an epoch and skip a slash id already applied.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Connection
from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound
from web3.types import TxParams

from ledger.chain import contracts as chain_tx
from ledger.kit import outbox
from ledger.settlement.domain import (
    LIVE,
    SLASH_BATCH_SIZE,
    FeePolicy,
    Fees,
    ItemStatus,
    TxStatus,
    bytes32,
    calculator_version_number,
    is_final,
    item_status,
)
from ledger.settlement.repository import SettlementRepository, TxRow

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractContextManager[Connection]]

#: Outbox items looked at per topic and run.
MAX_ITEMS_PER_RUN = 500


@dataclass(frozen=True)
class Chain:
    """What the jobs need of a deployment: the node, the contracts, one key per role."""

    w3: Web3
    distributor: str
    vault: str
    root_poster: LocalAccount
    slasher: LocalAccount
    fees: FeePolicy
    confirmations: int = 12
    stuck_after_s: int = 60
    start_block: int = 0  # where the watcher's first run begins (the deployment's block)

    def signer(self, topic: str) -> LocalAccount:
        return self.root_poster if topic == "root" else self.slasher


# --- building a transaction --------------------------------------------------------------------


def _call(chain: Chain, topic: str, payloads: Sequence[dict[str, Any]], params: dict[str, Any]
          ) -> TxParams:  # fmt: skip
    """The transaction of ``payloads`` (one root, or a batch of slashes) with ``params``
    (nonce, fees: given explicitly, so nothing is filled in from the node)."""
    sender = chain.signer(topic)
    if topic == "root":
        (p,) = payloads
        return chain_tx.post_root_tx(
            chain.w3, chain.distributor, epoch=int(p["epoch"]), root=bytes32(p["root"]),
            inputs_digest=bytes32(p["inputs_digest"]), params_hash=bytes32(p["params_hash"]),
            calculator_version=calculator_version_number(p["calculator_version"]),
            sender=sender, **params,  # gas: POST_ROOT_GAS, explicit
        )  # fmt: skip
    items = [
        chain_tx.SlashItem(
            bytes32(p["slash_id"]), p["provider"], int(p["amount_base_units"]),
            int(p["infraction_at_s"]),
        )
        for p in payloads
    ]  # fmt: skip
    return chain_tx.slash_batch_tx(chain.w3, chain.vault, items, sender=sender, **params)


def _sign(chain: Chain, topic: str, payloads: Sequence[dict[str, Any]], nonce: int, fees: Fees
          ) -> tuple[bytes, str, int]:  # fmt: skip
    tx = _call(chain, topic, payloads, {
        "nonce": nonce, "max_fee_per_gas": fees.max_fee_per_gas,
        "max_priority_fee_per_gas": fees.max_priority_fee_per_gas,
    })  # fmt: skip
    signed = chain.signer(topic).sign_transaction(dict(tx))  # type: ignore[arg-type]
    return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex(), int(tx["gas"])


def _base_fee(w3: Web3) -> int:
    return int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)


# --- submit --------------------------------------------------------------------------------


def submit_due(transaction: Transaction, chain: Chain, *, now: dt.datetime) -> list[int]:
    """Sign, record and send a transaction for every outbox item none carries yet; returns the
    ids of the transactions recorded (sent, or to be resolved by :func:`track`)."""
    recorded: list[tuple[int, bytes]] = []
    for topic in ("root", "slash"):
        recorded += _record_new(transaction, chain, topic, now)
    for tx_id, raw in recorded:
        _send(transaction, chain, tx_id, raw, now)
    return [tx_id for tx_id, _ in recorded]


def _record_new(
    transaction: Transaction, chain: Chain, topic: str, now: dt.datetime
) -> list[tuple[int, bytes]]:
    """Under the signer's nonce lock: build, sign and record the topic's new transactions."""
    signer = chain.signer(topic).address
    out = []
    with transaction() as conn:
        repo = SettlementRepository(conn)
        repo.lock_signer(signer)
        if repo.halted():  # the last reconciliation found a drift: a person must look first
            log.error("settlement halted: the last reconciliation found a drift")
            return []
        items = repo.unsettled_items(topic, MAX_ITEMS_PER_RUN)
        if not items:
            return []
        fees = chain.fees.initial(_base_fee(chain.w3))
        if fees is None:
            log.warning("settlement %s waits: the base fee is above the fee cap", topic)
            return []
        nonce = max(repo.next_nonce(signer), chain.w3.eth.get_transaction_count(signer, "pending"))
        size = 1 if topic == "root" else SLASH_BATCH_SIZE
        for k in range(0, len(items), size):
            group = items[k : k + size]
            raw, tx_hash, gas = _sign(chain, topic, [p for _, _, p in group], nonce, fees)
            tx_id = repo.insert_tx(
                signer=signer, nonce=nonce, topic=topic, items=[i for i, _, _ in group],
                tx_hash=tx_hash, raw_tx=raw, gas_limit=gas, fees=fees, replaces=None, now=now,
            )  # fmt: skip
            out.append((tx_id, raw))
            nonce += 1
    return out


def _send(transaction: Transaction, chain: Chain, tx_id: int, raw: bytes, now: dt.datetime
          ) -> None:  # fmt: skip
    """Send recorded bytes; record ``submitted``, or ``send_failed`` with the error (the
    outcome is unknown: :func:`track` finds out from the chain)."""
    try:
        chain.w3.eth.send_raw_transaction(raw)
        status, detail = TxStatus.SUBMITTED, {}
    except Exception as exc:  # RPC down, timeout, refused: the chain says later what happened
        status, detail = TxStatus.SEND_FAILED, {"error": f"{type(exc).__name__}: {exc}"[:500]}
    with transaction() as conn:
        SettlementRepository(conn).add_event(tx_id, status, now, detail=detail)


# --- track ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    number: int
    finalized: int | None


def _head(w3: Web3) -> _Head:
    number = int(w3.eth.block_number)
    try:
        finalized: int | None = int(w3.eth.get_block("finalized")["number"])
    except (BlockNotFound, ValueError):  # a chain without the tag: confirmations decide
        finalized = None
    return _Head(number, finalized)


def track(transaction: Transaction, chain: Chain, *, now: dt.datetime) -> dict[str, int]:
    """Follow every open transaction one step; returns how many moved to each status."""
    signers = {chain.root_poster.address, chain.slasher.address}
    with transaction() as conn:
        # Transactions of keys no longer configured (rotated) are not followed on this chain.
        txs = [t for t in SettlementRepository(conn).open_txs() if t.signer in signers]
    head = _head(chain.w3)
    moved: dict[str, int] = {}
    for tx in txs:
        status = _track_one(transaction, chain, tx, head, now)
        if status is not None:
            moved[status] = moved.get(status, 0) + 1
    return moved


def _receipt(w3: Web3, tx_hash: str) -> Any:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return None


def _track_one(
    transaction: Transaction, chain: Chain, tx: TxRow, head: _Head, now: dt.datetime
) -> str | None:
    w3 = chain.w3
    receipt = _receipt(w3, tx.tx_hash)
    if receipt is not None:
        return _included(transaction, chain, tx, receipt, head, now)
    if tx.status == TxStatus.INCLUDED:  # its block left the canonical chain
        _event(transaction, tx, TxStatus.REORGED, now, detail={"was_block": tx.block_hash})
        _rebroadcast(transaction, chain, tx, now)
        return TxStatus.REORGED
    if w3.eth.get_transaction_count(Web3.to_checksum_address(tx.signer), "latest") > tx.nonce:
        return _nonce_used(transaction, chain, tx, now)
    if tx.status in (TxStatus.SEND_FAILED, TxStatus.SIGNED, TxStatus.REORGED) or _dropped(w3, tx):
        _rebroadcast(transaction, chain, tx, now)
        return TxStatus.SUBMITTED
    if (now - tx.status_at).total_seconds() >= chain.stuck_after_s and _is_newest(transaction, tx):
        return _replace(transaction, chain, tx, now)
    return None


def _included(
    transaction: Transaction, chain: Chain, tx: TxRow, receipt: Any, head: _Head,
    now: dt.datetime,
) -> str | None:  # fmt: skip
    block, block_hash = int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex()
    if int(receipt["status"]) != 1:
        _event(transaction, tx, TxStatus.FAILED, now, block=block, block_hash=block_hash,
               detail={"reason": "reverted", "gas_used": int(receipt["gasUsed"])})  # fmt: skip
        log.error("settlement tx %s (%s, items %s) reverted: a person must look", tx.tx_hash,
                  tx.topic, tx.items)  # fmt: skip
        return TxStatus.FAILED
    if is_final(block, head=head.number, finalized=head.finalized,
                confirmations=chain.confirmations):  # fmt: skip
        # The canonical chain's block at that height must still be the one that has it.
        if _canonical_hash(chain.w3, block) != block_hash:
            return None  # a reorg is under way: look again next run
        _event(transaction, tx, TxStatus.FINAL, now, block=block, block_hash=block_hash)
        _supersede(transaction, tx, now)
        return TxStatus.FINAL
    if tx.status != TxStatus.INCLUDED or tx.block_hash != block_hash:
        _event(transaction, tx, TxStatus.INCLUDED, now, block=block, block_hash=block_hash)
        return TxStatus.INCLUDED
    return None


def _canonical_hash(w3: Web3, number: int) -> str | None:
    try:
        return "0x" + bytes(w3.eth.get_block(number)["hash"]).hex()
    except BlockNotFound:
        return None


def _supersede(transaction: Transaction, final: TxRow, now: dt.datetime) -> None:
    """Every other transaction of the final one's nonce lost the race: replaced."""
    with transaction() as conn:
        repo = SettlementRepository(conn)
        for other in repo.txs_of_nonce(final.signer, final.nonce):
            if other.id != final.id and other.status in LIVE | {TxStatus.INCLUDED}:
                repo.add_event(other.id, TxStatus.REPLACED, now, detail={"by": final.tx_hash})


def _nonce_used(transaction: Transaction, chain: Chain, tx: TxRow, now: dt.datetime
                ) -> str | None:  # fmt: skip
    """The nonce is used on chain and this transaction had no receipt a moment ago: by itself
    after all (mined in between), by one of its replacements (whose own tracking settles it),
    or by another transaction of the key: then this one is replaced and its items are queued
    again, in a new transaction under a new nonce (for a root already on chain that one
    reverts and the item fails: a person looks, nothing is posted twice)."""
    with transaction() as conn:
        siblings = SettlementRepository(conn).txs_of_nonce(tx.signer, tx.nonce)
    # Itself included too: it may have been mined between the receipt read and the nonce read
    # (the next run then follows it to finality).
    if any(_receipt(chain.w3, s.tx_hash) is not None for s in siblings):
        return None
    _event(transaction, tx, TxStatus.REPLACED, now, detail={"by": "another transaction"})
    log.warning("settlement tx %s: nonce %d was used by another transaction of %s; its items "
                "are sent again", tx.tx_hash, tx.nonce, tx.signer)  # fmt: skip
    return TxStatus.REPLACED


def _dropped(w3: Web3, tx: TxRow) -> bool:
    try:
        w3.eth.get_transaction(tx.tx_hash)  # type: ignore[arg-type]
        return False
    except TransactionNotFound:
        return True


def _rebroadcast(transaction: Transaction, chain: Chain, tx: TxRow, now: dt.datetime) -> None:
    """The same signed bytes again (same nonce, same hash): never a second settlement."""
    _send(transaction, chain, tx.id, tx.raw_tx, now)


def _is_newest(transaction: Transaction, tx: TxRow) -> bool:
    with transaction() as conn:
        return (
            max(s.id for s in SettlementRepository(conn).txs_of_nonce(tx.signer, tx.nonce)) == tx.id
        )


def _replace(transaction: Transaction, chain: Chain, tx: TxRow, now: dt.datetime) -> str | None:
    """A stuck transaction: the same call, same nonce, +12.5% fees within the cap."""
    fees = chain.fees.replacement(tx.fees, _base_fee(chain.w3))
    if fees is None:
        log.warning("settlement tx %s is stuck and the fee cap leaves no room to replace it",
                    tx.tx_hash)  # fmt: skip
        return None
    with transaction() as conn:
        repo = SettlementRepository(conn)
        repo.lock_signer(tx.signer)
        payloads = [i.payload for i in outbox.items(conn, tx.items)]
        raw, tx_hash, gas = _sign(chain, tx.topic, payloads, tx.nonce, fees)
        new_id = repo.insert_tx(
            signer=tx.signer, nonce=tx.nonce, topic=tx.topic, items=tx.items, tx_hash=tx_hash,
            raw_tx=raw, gas_limit=gas, fees=fees, replaces=tx.id, now=now,
        )  # fmt: skip
    _send(transaction, chain, new_id, raw, now)
    return "replacement"


def _event(
    transaction: Transaction,
    tx: TxRow,
    status: TxStatus,
    now: dt.datetime,
    *,
    block: int | None = None,
    block_hash: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    with transaction() as conn:
        SettlementRepository(conn).add_event(
            tx.id, status, now, block_number=block, block_hash=block_hash, detail=detail
        )


# --- reading -------------------------------------------------------------------------------


def item_settlement(conn: Connection, topic: str, key: str) -> dict[str, Any] | None:
    """The settlement of one outbox item: its status and every transaction with its events."""
    item = outbox.find(conn, topic, key)
    if item is None:
        return None
    repo = SettlementRepository(conn)
    txs = repo.txs_of_item(item.id)
    return {
        "topic": topic, "key": key, "payload": item.payload,
        "status": item_status([t.status for t in txs]) if txs else ItemStatus.QUEUED,
        "transactions": [
            {"tx_hash": t.tx_hash, "nonce": t.nonce, "signer": t.signer, "status": t.status,
             "block_number": t.block_number, "block_hash": t.block_hash,
             "max_fee_per_gas": str(t.fees.max_fee_per_gas), "gas_limit": t.gas_limit,
             "replaces": t.replaces, "events": repo.events(t.id)}
            for t in txs
        ],
    }  # fmt: skip


def settlement_lines(conn: Connection, after_id: int) -> list[tuple[int, str]]:
    """(event id, line) for each transaction included, final or failed after ``after_id``."""
    out = []
    events = SettlementRepository(conn).events_after(after_id, ("included", "final", "failed"))
    for event_id, topic, keys, status, tx_hash, block in events:
        what = f"epoch {keys[0]} root" if topic == "root" else f"{len(keys)} slash(es)"
        where = f" in block {block}" if block is not None else ""
        out.append((event_id, f"settlement: {what} {status}{where} (tx {tx_hash})"))
    return out
