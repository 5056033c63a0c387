"""Helpers shared by integration tests."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Engine

from ledger.accounting.domain.transfers import TransferKind, TransferRequest
from ledger.accounting.service import open_account, open_system_accounts
from ledger.kit.db import transaction

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def req(
    tid: str,
    debit: int | None,
    credit: int | None,
    amount: int | None,
    *,
    kind: TransferKind = TransferKind.POSTED,
    code: int = 10,
    **kw: object,
) -> TransferRequest:
    return TransferRequest(tid, debit, credit, amount, code, kind, **kw)  # type: ignore[arg-type]


def setup_accounts(engine: Engine, owner: str | None = None) -> tuple[dict[str, int], int, int]:
    """System accounts plus two provider-style accounts; returns (system, a, b)."""
    owner = owner or uid("prov")
    with transaction(engine) as conn:
        system = open_system_accounts(conn)
        a = open_account(conn, owner=owner, kind="rewards_accrued").id
        b = open_account(conn, owner=owner, kind="rewards_claimed").id
    return system, a, b
