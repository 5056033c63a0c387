"""Appeals with governor votes, and approved reviews / compliance checks (unjail events).

Revision ID: 0007_standing_appeals
Revises: 0006_slashing
Create Date: 2026-11-26
"""

from alembic import op

revision = "0007_standing_appeals"
down_revision = "0006_slashing"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE slash_appeals (
            penalty_id text PRIMARY KEY REFERENCES slash_penalties (id),
            filed_at timestamptz NOT NULL,
            counter_evidence jsonb NOT NULL
        );
        CREATE TABLE slash_appeal_votes (
            penalty_id text NOT NULL REFERENCES slash_appeals (penalty_id),
            governor text NOT NULL,
            vote text NOT NULL CHECK (vote IN ('uphold', 'void')),
            cast_at timestamptz NOT NULL,
            PRIMARY KEY (penalty_id, governor)      -- one vote per governor, never changed
        );
        -- A governor-approved security / severe-rung review, or a passed compliance check:
        -- the events that release an open-ended jail.
        CREATE TABLE node_releases (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            node_id text NOT NULL REFERENCES nodes (node_id),
            kind text NOT NULL CHECK (kind IN ('review', 'compliance')),
            approved_at timestamptz NOT NULL,
            reference text NOT NULL UNIQUE          -- idempotency key of the approval
        );
        CREATE TRIGGER slash_appeals_append_only BEFORE UPDATE OR DELETE ON slash_appeals
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE TRIGGER slash_appeal_votes_append_only BEFORE UPDATE OR DELETE
            ON slash_appeal_votes FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE TRIGGER node_releases_append_only BEFORE UPDATE OR DELETE ON node_releases
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """
    )
    op.execute(
        f"GRANT SELECT, INSERT ON slash_appeals, slash_appeal_votes, node_releases TO {APP_ROLE}"
    )


def downgrade() -> None:
    op.execute("DROP TABLE node_releases, slash_appeal_votes, slash_appeals")
