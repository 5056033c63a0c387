"""What staking needs from other modules, as Cosmos SDK modules declare their expected keepers.

Every use staking makes of another module's service or repository goes through this file, so
the list below is the whole of its dependency on their state:

- accounting: a provider's stake accounts (``stake_account``), the on-chain custody account
  stake arrives from and leaves to (``custody_account_id``), the stake transfers already made
  (``find_transfer``) and the one way to make a new one (``create_transfer``); the stake
  accounts of platform users and network operators are opened with ``open_account``.
- registry: the shape of an active node as of a time (``NodeAsOf``), what stake compliance
  sums the required stake of.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ledger.accounting.domain.accounts import AccountKind
from ledger.accounting.domain.transfers import Transfer
from ledger.accounting.repository import AccountRow, LedgerRepository
from ledger.accounting.service import create_transfer, open_account, open_system_accounts
from ledger.registry.repository import NodeAsOf

__all__ = [
    "AccountRow",
    "NodeAsOf",
    "create_transfer",
    "custody_account_id",
    "find_transfer",
    "open_account",
    "stake_account",
]

#: Stake is held in SWARM.
STAKE_ASSET = "SWARM"


def stake_account(conn: Connection, provider_id: str, kind: AccountKind) -> AccountRow | None:
    """The provider's ``stake_bonded`` or ``stake_unbonding`` account, if it has one."""
    assert kind in (AccountKind.STAKE_BONDED, AccountKind.STAKE_UNBONDING), kind
    return LedgerRepository(conn).find_account(provider_id, kind, STAKE_ASSET)


def custody_account_id(conn: Connection) -> int:
    """The system account mirroring the stake the vault holds on chain (opened if missing)."""
    return open_system_accounts(conn)[AccountKind.ONCHAIN_CUSTODY]


def find_transfer(conn: Connection, transfer_id: str) -> Transfer | None:
    """A stored transfer by id."""
    return LedgerRepository(conn).get_transfers([transfer_id]).get(transfer_id)
