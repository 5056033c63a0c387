"""Read API over the ledger: accounts, their balances, their transfers (cursor pagination)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from ledger.accounting import service as ledger
from ledger.accounting.schemas import AccountOut, AccountPage, TransferOut, TransferPage
from ledger.kit.http import Cursor, SafeText, page_of, parse_cursor
from ledger.kit.limits import DEFAULT_PAGE_SIZE, MAX_INT64, MAX_PAGE_SIZE

router = APIRouter(prefix="/v1", tags=["ledger"])

AccountId = Annotated[int, Path(ge=1, le=MAX_INT64, description="account id")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.get("/accounts", response_model=AccountPage)
def list_accounts(
    request: Request,
    owner: Annotated[
        SafeText | None,
        Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$", description="owner id, exact"),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> AccountPage:
    """Accounts with their balances, by id; filter by owner."""
    after = parse_cursor(cursor)
    with request.app.state.runtime.engine.connect() as conn:
        rows = ledger.list_accounts(conn, owner=owner, after_id=after, limit=limit + 1)
    items, next_cursor = page_of(rows, limit, lambda a: a.id)
    return AccountPage(items=[AccountOut.of(r) for r in items], next_cursor=next_cursor)


@router.get("/accounts/{account_id}", response_model=AccountOut)
def read_account(request: Request, account_id: AccountId) -> AccountOut:
    """One account and its four balance counters."""
    with request.app.state.runtime.engine.connect() as conn:
        return AccountOut.of(ledger.get_account(conn, account_id))


@router.get("/accounts/{account_id}/transfers", response_model=TransferPage)
def account_transfers(
    request: Request,
    account_id: AccountId,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> TransferPage:
    """Transfers debiting or crediting the account, oldest first (chain order)."""
    after = parse_cursor(cursor)
    with request.app.state.runtime.engine.connect() as conn:
        rows = ledger.account_transfers(conn, account_id, after_seq=after, limit=limit + 1)
    items, next_cursor = page_of(rows, limit, lambda row: row[0].seq)
    return TransferPage(
        items=[TransferOut.of(t, status) for t, status in items], next_cursor=next_cursor
    )
