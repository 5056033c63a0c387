"""System accounts and provider accounts (SPEC section 7)."""

from __future__ import annotations

from sqlalchemy import Connection

from ledger.domain.transfers import NormalBalance
from ledger.services.ledger import open_account

SYSTEM_OWNER = "system"

#: System accounts: kind -> (normal side, may go negative). Emission is where new SWARM comes
#: from, so it is the one account whose balance runs negative (it counts what was minted).
SYSTEM_ACCOUNTS: dict[str, tuple[NormalBalance, bool]] = {
    "emission": (NormalBalance.CREDIT, True),
    "reward_pool": (NormalBalance.CREDIT, False),
    "treasury": (NormalBalance.CREDIT, False),
    "insurance_pool": (NormalBalance.CREDIT, False),
    "burn": (NormalBalance.CREDIT, False),
    "slash_escrow": (NormalBalance.CREDIT, False),
    "onchain_custody": (NormalBalance.DEBIT, True),
}

#: Per-provider accounts, all credit-normal and never negative.
PROVIDER_ACCOUNT_KINDS = ("rewards_accrued", "rewards_claimed", "stake_bonded", "stake_unbonding")


def open_system_accounts(conn: Connection, asset: str = "SWARM") -> dict[str, int]:
    """Open every system account (idempotent); returns kind -> account id."""
    out = {}
    for kind, (side, negative) in SYSTEM_ACCOUNTS.items():
        row = open_account(
            conn, owner=SYSTEM_OWNER, kind=kind, asset=asset, normal_balance=side,
            may_go_negative=negative,
        )  # fmt: skip
        out[kind] = row.id
    return out


def open_provider_accounts(
    conn: Connection, provider_id: str, asset: str = "SWARM"
) -> dict[str, int]:
    """Open a provider's accounts (idempotent); returns kind -> account id."""
    if provider_id == SYSTEM_OWNER:
        raise ValueError("provider_id: 'system' is reserved")
    return {
        kind: open_account(conn, owner=provider_id, kind=kind, asset=asset).id
        for kind in PROVIDER_ACCOUNT_KINDS
    }
