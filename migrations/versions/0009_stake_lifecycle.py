"""Stake life cycle (issue 15): overturned penalties, and incidents found by their evidence.

- ``slash_penalty_overturns``: an executed penalty overturned later (a governance decision, new
  evidence). One row per penalty (the primary key), append-only like every slashing fact. Its
  ``document`` names the refund transfers that gave every slashed unit back. A penalty's
  current status is ``overturned`` when it has a row here, else its settlement event's, else
  the status it was decided with.
- ``ix_slash_violations_incident``: the identity of an incident is its evidence (kind, node,
  evidence digest), not the moment a reporter says it happened, so reports look incidents up
  by it (one slash per incident).

Unbonding entries need no table: each is its ``unbond:`` transfer, and what is left of it is
read from the transfers that name it (holds, refunds, withdrawals: ``unbond_transfer_id`` in
their metadata).

Revision ID: 0009_stake_lifecycle
Revises: 0008_economics
Create Date: 2026-12-01
"""

from alembic import op

revision = "0009_stake_lifecycle"
down_revision = "0008_economics"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE slash_penalty_overturns (
            penalty_id text PRIMARY KEY REFERENCES slash_penalties (id),
            at timestamptz NOT NULL,
            document jsonb NOT NULL                -- the refund transfers, per part
        );
        CREATE TRIGGER slash_penalty_overturns_append_only
            BEFORE UPDATE OR DELETE ON slash_penalty_overturns
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE INDEX ix_slash_violations_incident
            ON slash_violations (node_id, kind, evidence_digest);
        """
    )
    op.execute(f"GRANT SELECT, INSERT ON slash_penalty_overturns TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP INDEX ix_slash_violations_incident")
    op.execute("DROP TABLE slash_penalty_overturns")
