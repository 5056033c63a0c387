"""SQLAlchemy models of the ledger. Alembic migrations create the same schema by hand.

Transfers are append-only: the database refuses UPDATE, DELETE and TRUNCATE on them (trigger,
and the application role holds no such grants). Balances are derived state that the ledger keeps
in step with transfers under row locks; ``swarm-ledger verify`` recomputes them from transfers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledger.kit.sqltypes import Amount

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UINT256_MAX_SQL = str(2**256 - 1)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Asset(Base):
    """A fungible asset the ledger counts, in integer base units."""

    __tablename__ = "assets"
    code: Mapped[str] = mapped_column(String(16), primary_key=True, comment="e.g. SWARM")
    decimals: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    __table_args__ = (CheckConstraint("decimals BETWEEN 0 AND 36", name="decimals_range"),)


class Account(Base):
    """A ledger account: who owns it, what it is for, which asset, and its limit."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(Text, nullable=False, comment="'system' or a provider id")
    kind: Mapped[str] = mapped_column(Text, nullable=False, comment="e.g. rewards_accrued")
    asset: Mapped[str] = mapped_column(ForeignKey("assets.code"), nullable=False)
    normal_balance: Mapped[str] = mapped_column(
        String(6), nullable=False, comment="credit: balance = credits - debits; debit: reverse"
    )
    may_go_negative: Mapped[bool] = mapped_column(
        Boolean, nullable=False, comment="false: posted+pending outflow never exceeds inflow"
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    __table_args__ = (
        UniqueConstraint("owner", "kind", "asset", name="uq_accounts_owner_kind_asset"),
        CheckConstraint("normal_balance IN ('credit', 'debit')", name="normal_balance"),
    )


class Balance(Base):
    """Running totals of an account (TigerBeetle's four counters)."""

    __tablename__ = "balances"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    debits_pending: Mapped[int] = mapped_column(Amount, nullable=False, server_default="0")
    debits_posted: Mapped[int] = mapped_column(Amount, nullable=False, server_default="0")
    credits_pending: Mapped[int] = mapped_column(Amount, nullable=False, server_default="0")
    credits_posted: Mapped[int] = mapped_column(Amount, nullable=False, server_default="0")
    __table_args__ = (
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 "
            "AND credits_pending >= 0 AND credits_posted >= 0",
            name="counters_non_negative",
        ),
        {"postgresql_with": {"fillfactor": 50}},
    )


class Transfer(Base):
    """One append-only ledger fact. ``id`` is the caller's idempotency key."""

    __tablename__ = "transfers"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # No foreign keys here on purpose (bulk append speed); see migration 0002.
    debit_account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    credit_account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    asset: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int] = mapped_column(Amount, nullable=False)
    code: Mapped[int] = mapped_column(Integer, nullable=False)
    epoch: Mapped[int | None] = mapped_column(BigInteger)
    ref_id: Mapped[str | None] = mapped_column(Text)
    timeout_s: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    __table_args__ = (
        CheckConstraint(f"amount > 0 AND amount <= {UINT256_MAX_SQL}", name="amount_range"),
        CheckConstraint(
            "kind IN ('posted', 'pending', 'post_pending', 'void_pending', 'reversal')",
            name="kind",
        ),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        CheckConstraint(
            "(ref_id IS NULL) = (kind IN ('posted', 'pending'))", name="ref_id_iff_referencing"
        ),
        CheckConstraint(
            "timeout_s IS NULL OR (kind = 'pending' AND timeout_s > 0)", name="timeout_pending"
        ),
        CheckConstraint("octet_length(hash) = 32 AND octet_length(prev_hash) = 32", name="hashes"),
        Index("ix_transfers_debit_account_seq", "debit_account_id", "seq"),
        Index("ix_transfers_credit_account_seq", "credit_account_id", "seq"),
        # One resolution per pending transfer, one reversal per transfer.
        Index(
            "uq_transfers_resolution",
            "ref_id",
            unique=True,
            postgresql_where=text("kind IN ('post_pending', 'void_pending')"),
        ),
        Index(
            "uq_transfers_reversal",
            "ref_id",
            unique=True,
            postgresql_where=text("kind = 'reversal'"),
        ),
        # Reward and maturity transfers by epoch (the maturity step at each close).
        Index(
            "ix_transfers_reward_epoch",
            "code",
            "epoch",
            postgresql_where=text("code IN (100, 101)"),
        ),
    )


class LedgerHead(Base):
    """The tip of the hash chain: a single row, locked by every append to serialize the chain."""

    __tablename__ = "ledger_head"
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
