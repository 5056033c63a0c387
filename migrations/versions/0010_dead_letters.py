"""Worker bookkeeping (issue 10): which closed epochs have been evaluated.

Dead letters themselves live in a capped Redis list next to the broker (``ledger.kit.queue``):
a message that cannot be decoded is read where the broker is, even while PostgreSQL is down.
What must survive a flush of Redis is which steps after a close were done, so beat can find a
closed epoch whose evaluation message was lost: one row per evaluated epoch, written in the
evaluation's own transaction.

Revision ID: 0010_dead_letters
Revises: 0009_stake_lifecycle
Create Date: 2026-12-01
"""

from alembic import op

revision = "0010_dead_letters"
down_revision = "0009_stake_lifecycle"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE epoch_evaluations (
            epoch bigint PRIMARY KEY,
            penalties integer NOT NULL CHECK (penalties >= 0),
            evaluated_at timestamptz NOT NULL
        );
        COMMENT ON TABLE epoch_evaluations IS
            'Closed epochs whose slashing evaluation committed (one row each, same transaction)';
        """
    )
    op.execute(f"GRANT SELECT, INSERT ON epoch_evaluations TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE epoch_evaluations")
