"""Slashing: recorded violations, decided penalties, and how each penalty was settled.

Three append-only tables (the ledger_refuse_change() trigger of 0003 refuses UPDATE and DELETE;
the application role only has SELECT, INSERT):

- ``slash_violations``: one row per finding; the id is the domain Violation id (sha256 of kind,
  node, infraction epoch and evidence digest), so the same evidence is recorded once and never
  punishes twice. Waived findings (correlated outages) are recorded with their waiver.
- ``slash_penalties``: the decision for one violation (at most one: ``violation_id`` is
  unique); the id is the domain Penalty id, which the ledger transfers of the slash name
  (``slash:<penalty id>:...``). ``status`` is the status *as decided*: ``warning`` (nothing
  slashed) or ``pending`` (holds placed, appeal window open).
- ``slash_penalty_events``: how a pending penalty was settled, ``executed`` or ``voided``.
  Status changes are modelled as this separate append-only table rather than an UPDATE of
  ``slash_penalties``: the decision row stays an immutable fact like every ledger row, and the
  primary key on ``penalty_id`` allows exactly one settlement, so an executor and a void racing
  on the same penalty cannot both succeed. The current status of a penalty is
  ``coalesce(event.status, penalty.status)``; its ``settled_at`` is ``event.at``.

Revision ID: 0006_slashing
Revises: 0005_reward_epochs
Create Date: 2026-11-27
"""

from alembic import op

revision = "0006_slashing"
down_revision = "0005_reward_epochs"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE slash_violations (
            id text PRIMARY KEY,                   -- domain Violation id (64 hex)
            node_id text NOT NULL,
            provider_id text NOT NULL,
            kind text NOT NULL,
            klass text NOT NULL,
            infraction_epoch bigint NOT NULL,
            infraction_at_s bigint NOT NULL,
            evidence jsonb NOT NULL,               -- canonical (key, value) pairs as an object
            evidence_digest text NOT NULL,
            severity text,
            severity_units integer NOT NULL DEFAULT 0,
            duplicate_count integer NOT NULL DEFAULT 0,
            waived boolean NOT NULL,
            waiver jsonb,                          -- the waiver's own evidence when waived
            recorded_at timestamptz NOT NULL,
            CONSTRAINT ck_slash_violations_waiver CHECK (waived = (waiver IS NOT NULL))
        );
        CREATE INDEX ix_slash_violations_node ON slash_violations (node_id, infraction_at_s);

        CREATE TABLE slash_penalties (
            id text PRIMARY KEY,                   -- domain Penalty id (64 hex)
            violation_id text NOT NULL UNIQUE REFERENCES slash_violations (id),
            node_id text NOT NULL,
            provider_id text NOT NULL,
            kind text NOT NULL,
            klass text NOT NULL,
            infraction_epoch bigint NOT NULL,
            infraction_at_s bigint NOT NULL,
            outcome text NOT NULL,
            offence_number integer NOT NULL,
            slash_fraction_ppm bigint NOT NULL,
            stake_at_risk_base_units numeric(78, 0) NOT NULL,
            slash_base_units numeric(78, 0) NOT NULL,
            from_rewards_base_units numeric(78, 0) NOT NULL,
            from_stake_base_units numeric(78, 0) NOT NULL,
            jail_until_s bigint,
            tombstone boolean NOT NULL,
            appeal_deadline_s bigint NOT NULL,
            status text NOT NULL CHECK (status IN ('warning', 'pending')),
            rule text NOT NULL,
            decided_at timestamptz NOT NULL,
            document jsonb NOT NULL,               -- the whole Penalty and the holds placed
            CONSTRAINT ck_slash_penalties_amounts CHECK (
                slash_base_units >= 0
                AND from_rewards_base_units + from_stake_base_units = slash_base_units)
        );
        CREATE INDEX ix_slash_penalties_node ON slash_penalties (node_id, infraction_at_s);
        CREATE INDEX ix_slash_penalties_due ON slash_penalties (appeal_deadline_s)
            WHERE status = 'pending';

        CREATE TABLE slash_penalty_events (
            penalty_id text PRIMARY KEY REFERENCES slash_penalties (id),
            status text NOT NULL CHECK (status IN ('executed', 'voided')),
            at timestamptz NOT NULL,
            document jsonb NOT NULL                -- the ledger transfers that settled it
        );

        CREATE TRIGGER slash_violations_append_only BEFORE UPDATE OR DELETE ON slash_violations
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE TRIGGER slash_penalties_append_only BEFORE UPDATE OR DELETE ON slash_penalties
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE TRIGGER slash_penalty_events_append_only
            BEFORE UPDATE OR DELETE ON slash_penalty_events
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """
    )
    op.execute(
        "GRANT SELECT, INSERT ON slash_violations, slash_penalties, slash_penalty_events "
        f"TO {APP_ROLE}"
    )


def downgrade() -> None:
    op.execute("DROP TABLE slash_penalty_events, slash_penalties, slash_violations")
