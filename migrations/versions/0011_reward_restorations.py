"""Rewards a reversed penalty cost, restored (issue 15 point 3).

One row per reversed (voided or overturned) penalty and closed epoch whose standing cutoff fell
while the penalty was in effect: what the node was paid, what it would have been paid with its
fair standing (the epoch recomputed from its stored inputs, the whole receipt kept), and the
transfer that paid the difference (code 305, from the insurance pool). The closed epoch itself is
never edited. A row is written once, in the transaction of its transfer.

Revision ID: 0011_reward_restorations
Revises: 0010_dead_letters
Create Date: 2026-12-01
"""

from alembic import op

revision = "0011_reward_restorations"
down_revision = "0010_dead_letters"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE reward_restorations (
            penalty_id text NOT NULL REFERENCES slash_penalties (id),
            epoch bigint NOT NULL REFERENCES reward_epochs (epoch),
            node_id text NOT NULL,
            provider_id text NOT NULL,
            paid_base_units numeric(78, 0) NOT NULL CHECK (paid_base_units >= 0),
            fair_base_units numeric(78, 0) NOT NULL CHECK (fair_base_units >= 0),
            restored_base_units numeric(78, 0) NOT NULL CHECK (restored_base_units >= 0),
            transfer_id text,
            fair_standing jsonb NOT NULL,
            receipt jsonb,
            restored_at timestamptz NOT NULL,
            PRIMARY KEY (penalty_id, epoch),
            CHECK ((restored_base_units > 0) = (transfer_id IS NOT NULL))
        );
        CREATE TRIGGER reward_restorations_append_only
            BEFORE UPDATE OR DELETE ON reward_restorations
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE INDEX ix_reward_restorations_node_epoch ON reward_restorations (node_id, epoch);
        COMMENT ON TABLE reward_restorations IS
            'Rewards a reversed penalty cost, recomputed per closed epoch and paid back';
        """
    )
    op.execute(f"GRANT SELECT, INSERT ON reward_restorations TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE reward_restorations")
