"""Read API over the ledger: accounts, their balances, their transfers (cursor pagination)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from ledger.accounting.repository import LedgerRepository
from ledger.accounting.schemas import AccountOut, AccountPage, TransferOut, TransferPage
from ledger.accounting.service import get_account
from ledger.kit.errors import Malformed
from ledger.kit.limits import DEFAULT_PAGE_SIZE, MAX_INT64, MAX_PAGE_SIZE

router = APIRouter(prefix="/v1", tags=["ledger"])


def parse_cursor(cursor: str | None) -> int:
    """Cursors are opaque to clients; here they are the last seen id / seq as decimal text."""
    if cursor is None:
        return 0
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19 or int(cursor) > MAX_INT64:
        raise Malformed(
            "cursor: not a cursor returned by this API", field="cursor", code="invalid_cursor"
        )
    return int(cursor)


AccountId = Annotated[int, Path(ge=1, le=MAX_INT64, description="account id")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.get("/accounts", response_model=AccountPage)
def list_accounts(
    request: Request,
    owner: Annotated[
        str | None,
        Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$", description="owner id, exact"),
    ] = None,
    cursor: str | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> AccountPage:
    """Accounts with their balances, by id; filter by owner."""
    after = parse_cursor(cursor)
    with request.app.state.runtime.engine.connect() as conn:
        rows = LedgerRepository(conn).list_accounts(owner=owner, after_id=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return AccountPage(
        items=[AccountOut.of(r) for r in rows],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )


@router.get("/accounts/{account_id}", response_model=AccountOut)
def read_account(request: Request, account_id: AccountId) -> AccountOut:
    """One account and its four balance counters."""
    with request.app.state.runtime.engine.connect() as conn:
        return AccountOut.of(get_account(conn, account_id))


@router.get("/accounts/{account_id}/transfers", response_model=TransferPage)
def account_transfers(
    request: Request,
    account_id: AccountId,
    cursor: str | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> TransferPage:
    """Transfers debiting or crediting the account, oldest first (chain order)."""
    after = parse_cursor(cursor)
    with request.app.state.runtime.engine.connect() as conn:
        get_account(conn, account_id)
        rows = LedgerRepository(conn).account_transfers(
            account_id, after_seq=after, limit=limit + 1
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return TransferPage(
        items=[TransferOut.of(t, status) for t, status in rows],
        next_cursor=str(rows[-1][0].seq) if more and rows else None,
    )
