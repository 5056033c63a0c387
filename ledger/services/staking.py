"""Stake as the ledger mirrors it. Until the chain watcher lands, stake changes arrive through
this service (the watcher will call the same functions with the on-chain event as the id)."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import Connection

from ledger.db.ledger_repo import LedgerRepository
from ledger.domain import codes
from ledger.domain.transfers import Transfer, TransferRequest
from ledger.errors import LedgerServiceError
from ledger.services.accounts import open_system_accounts
from ledger.services.ledger import create_transfer

BOND_ID_RE = re.compile(r"^[A-Za-z0-9:._-]{1,100}$")


def bond_stake(
    conn: Connection, *, provider_id: str, amount_base_units: int, bond_id: str, now: dt.datetime
) -> Transfer:
    """Credit a provider's bonded stake (from on-chain custody). Idempotent on ``bond_id``."""
    if not BOND_ID_RE.match(bond_id):
        raise LedgerServiceError("bond_id: 1-100 of [A-Za-z0-9:._-]", field="bond_id",
                                 code="invalid_bond_id", status_code=422)  # fmt: skip
    custody = open_system_accounts(conn)["onchain_custody"]
    bonded = LedgerRepository(conn).find_account(provider_id, "stake_bonded", "SWARM")
    if bonded is None:
        raise LedgerServiceError(
            f"provider_id: {provider_id} has no stake account (register the provider first)",
            field="provider_id", code="provider_not_found", status_code=422,
        )  # fmt: skip
    return create_transfer(
        conn,
        TransferRequest(
            f"bond:{bond_id}", custody, bonded.id, amount_base_units, codes.STAKE_BOND,
            metadata={"provider_id": provider_id},
        ),
        now=now,
    )  # fmt: skip
