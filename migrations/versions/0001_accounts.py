"""Assets, accounts and their balances; the SWARM asset (18 decimals).

Revision ID: 0001_accounts
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_accounts"
down_revision = None
branch_labels = None
depends_on = None

AMOUNT = sa.Numeric(78, 0)


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("code", sa.String(16), primary_key=True, comment="e.g. SWARM"),
        sa.Column("decimals", sa.SmallInteger, nullable=False),
        sa.CheckConstraint("decimals BETWEEN 0 AND 36", name="decimals_range"),
    )
    op.execute("INSERT INTO assets (code, decimals) VALUES ('SWARM', 18)")
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("owner", sa.Text, nullable=False, comment="'system' or a provider id"),
        sa.Column("kind", sa.Text, nullable=False, comment="e.g. rewards_accrued"),
        sa.Column("asset", sa.String(16), sa.ForeignKey("assets.code"), nullable=False),
        sa.Column(
            "normal_balance",
            sa.String(6),
            nullable=False,
            comment="credit: balance = credits - debits; debit: reverse",
        ),
        sa.Column(
            "may_go_negative",
            sa.Boolean,
            nullable=False,
            comment="false: posted+pending outflow never exceeds inflow",
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("owner", "kind", "asset", name="uq_accounts_owner_kind_asset"),
        sa.CheckConstraint("normal_balance IN ('credit', 'debit')", name="normal_balance"),
    )
    op.create_table(
        "balances",
        sa.Column("account_id", sa.BigInteger, sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("debits_pending", AMOUNT, nullable=False, server_default="0"),
        sa.Column("debits_posted", AMOUNT, nullable=False, server_default="0"),
        sa.Column("credits_pending", AMOUNT, nullable=False, server_default="0"),
        sa.Column("credits_posted", AMOUNT, nullable=False, server_default="0"),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 "
            "AND credits_pending >= 0 AND credits_posted >= 0",
            name="counters_non_negative",
        ),
        # Balances are rewritten on every transfer: half-empty pages keep those updates HOT
        # (no index churn), which a 100k-account epoch close feels.
        postgresql_with={"fillfactor": 50},
    )


def downgrade() -> None:
    op.drop_table("balances")
    op.drop_table("accounts")
    op.drop_table("assets")
