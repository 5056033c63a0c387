"""The pure rules of settlement (docs/settlement.md): statuses, fees, finality, batches.

Nothing here talks to a chain or a database: the service feeds these rules what it read.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from ledger.kit.money import PPM

#: Slashes per ``slashBatch`` transaction (100 x ~60k gas stays far below the 16.7M cap).
SLASH_BATCH_SIZE: Final = 100
#: Geth and anvil refuse a replacement paying less than +10%; replacements pay +12.5%.
REPLACEMENT_BUMP_PPM: Final = 125_000


class TxStatus(enum.StrEnum):
    """A signed transaction's life: recorded before it is sent, then one of these events."""

    SIGNED = "signed"  # recorded, not known to be sent yet (a crash right here is resolved)
    SUBMITTED = "submitted"
    SEND_FAILED = "send_failed"  # the node refused it, or the RPC failed: outcome unknown
    INCLUDED = "included"
    FINAL = "final"
    REORGED = "reorged"  # its block left the canonical chain: sent again
    REPLACED = "replaced"  # its nonce went to another transaction (a replacement of ours, or not)
    FAILED = "failed"  # included but reverted


#: Statuses after which a transaction is no longer watched.
DONE: Final = frozenset({TxStatus.FINAL, TxStatus.REPLACED, TxStatus.FAILED})


class ItemStatus(enum.StrEnum):
    """An outbox item's settlement status, derived from its transactions (SPEC 8)."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    INCLUDED = "included"
    FINAL = "final"
    FAILED = "failed"


#: A transaction still in flight (it may yet be included).
LIVE: Final = frozenset(
    {TxStatus.SIGNED, TxStatus.SUBMITTED, TxStatus.SEND_FAILED, TxStatus.REORGED}
)


def item_status(tx_statuses: list[TxStatus]) -> ItemStatus:
    """The status of an outbox item from the latest status of every transaction that carried
    it: final once one is final, included while one is included, submitted while one is in
    flight, failed when one reverted (a person must look: nothing resends it), else queued
    (none yet, or each was replaced by another use of its nonce: it is sent again)."""
    if TxStatus.FINAL in tx_statuses:
        return ItemStatus.FINAL
    if TxStatus.INCLUDED in tx_statuses:
        return ItemStatus.INCLUDED
    if any(s in LIVE for s in tx_statuses):
        return ItemStatus.SUBMITTED
    if TxStatus.FAILED in tx_statuses:
        return ItemStatus.FAILED
    return ItemStatus.QUEUED


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 fees of one transaction, in wei."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True, slots=True)
class FeePolicy:
    """The fee cap (``max_fee_per_gas`` never above it) and the tip offered."""

    cap_wei: int
    priority_wei: int

    def initial(self, base_fee_wei: int) -> Fees | None:
        """Twice the current base fee plus the tip, within the cap; None when even the current
        base fee plus the tip is above the cap (the transaction waits, unsent)."""
        if base_fee_wei + self.priority_wei > self.cap_wei:
            return None
        return Fees(min(self.cap_wei, 2 * base_fee_wei + self.priority_wei), self.priority_wei)

    def replacement(self, previous: Fees, base_fee_wei: int) -> Fees | None:
        """Fees of a replacement (same nonce): both fees at least +12.5%, within the cap; None
        when the cap leaves no room (the stuck transaction waits for the base fee to fall)."""
        tip = _bump(previous.max_priority_fee_per_gas)
        fee = max(_bump(previous.max_fee_per_gas), 2 * base_fee_wei + tip)
        if fee > self.cap_wei:
            fee = self.cap_wei
        if fee < _bump(previous.max_fee_per_gas) or tip > fee:
            return None
        return Fees(fee, tip)


def _bump(wei: int) -> int:
    return -(-wei * (PPM + REPLACEMENT_BUMP_PPM) // PPM)  # ceiling: never below +12.5%


def is_final(included_block: int, *, head: int, finalized: int | None, confirmations: int) -> bool:
    """Final at the chain's ``finalized`` block where it has one, else after ``confirmations``
    blocks (the including block counts as the first)."""
    if finalized is not None:
        return included_block <= finalized
    return head - included_block + 1 >= confirmations


_VERSION = re.compile(r"^[a-z-]+-v(\d+)$")


def calculator_version_number(version: str) -> int:
    """The ``uint32`` the distributor stores for a calculator version (``rewards-v1`` -> 1)."""
    m = _VERSION.fullmatch(version)
    if m is None or int(m.group(1)) >= 2**32:
        raise ValueError(f"calculator version {version!r} has no number")
    return int(m.group(1))


def bytes32(hex_value: str) -> bytes:
    """A 32-byte value from its hex (with or without 0x)."""
    raw = bytes.fromhex(hex_value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"{hex_value!r} is not 32 bytes")
    return raw
