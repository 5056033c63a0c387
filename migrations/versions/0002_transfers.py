"""Transfers (append-only facts with a hash chain) and the chain head.

Revision ID: 0002_transfers
Revises: 0001_accounts
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_transfers"
down_revision = "0001_accounts"
branch_labels = None
depends_on = None

UINT256_MAX = str(2**256 - 1)


def upgrade() -> None:
    op.create_table(
        "transfers",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        # No foreign keys on this table, deliberately: they cost a lookup trigger per row and cut
        # bulk append speed to a third. The ledger engine checks every account (and its asset)
        # under the single-writer lock, accounts can never be deleted (trigger + grants), and
        # `verify` re-checks that every transfer names existing accounts of its asset.
        sa.Column("debit_account_id", sa.BigInteger, nullable=False),
        sa.Column("credit_account_id", sa.BigInteger, nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount", sa.Numeric(78, 0), nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("epoch", sa.BigInteger),
        sa.Column("ref_id", sa.Text),
        sa.Column("timeout_s", sa.Integer),
        sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.CheckConstraint(f"amount > 0 AND amount <= {UINT256_MAX}", name="amount_range"),
        sa.CheckConstraint(
            "kind IN ('posted', 'pending', 'post_pending', 'void_pending', 'reversal')",
            name="kind",
        ),
        sa.CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        sa.CheckConstraint(
            "(ref_id IS NULL) = (kind IN ('posted', 'pending'))",
            name="ref_id_iff_referencing",
        ),
        sa.CheckConstraint(
            "timeout_s IS NULL OR (kind = 'pending' AND timeout_s > 0)",
            name="timeout_pending",
        ),
        sa.CheckConstraint(
            "octet_length(hash) = 32 AND octet_length(prev_hash) = 32", name="hashes"
        ),
    )
    op.create_index("ix_transfers_debit_account_seq", "transfers", ["debit_account_id", "seq"])
    op.create_index("ix_transfers_credit_account_seq", "transfers", ["credit_account_id", "seq"])
    op.create_index(
        "uq_transfers_resolution",
        "transfers",
        ["ref_id"],
        unique=True,
        postgresql_where=sa.text("kind IN ('post_pending', 'void_pending')"),
    )
    op.create_index(
        "uq_transfers_reversal",
        "transfers",
        ["ref_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'reversal'"),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.LargeBinary, nullable=False),
        sa.CheckConstraint("id = 1", name="single_row"),
    )
    # The genesis link: 32 zero bytes, so the first transfer's prev_hash is well defined.
    op.execute(
        "INSERT INTO ledger_head (id, last_seq, last_hash) "
        "VALUES (1, 0, decode(repeat('00', 32), 'hex'))"
    )


def downgrade() -> None:
    op.drop_table("ledger_head")
    op.drop_table("transfers")
