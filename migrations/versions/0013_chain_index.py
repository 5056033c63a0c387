"""The chain watcher and the reconciler (issue 11 point 5): indexed events, the cursor, reports.

- ``chain_events``: every contract event the watcher indexed after finality, once per
  (tx hash, log index), with its decoded arguments and what mirroring it into the ledger did
  (``mirrored`` with the transfer id, ``recorded`` for events only compared, ``refused`` with
  the reason).
- ``chain_cursor``: one row per block range indexed; the cursor is the latest row's
  ``to_block``. ``from_block`` is unique, so two watchers never index one range twice.
- ``settlement_reconciliations``: every reconciler report (ok, the drifts by name); the latest
  one decides whether settlement is halted.

All three are append-only.

Revision ID: 0013_chain_index
Revises: 0012_settlement
Create Date: 2026-12-01
"""

from alembic import op

revision = "0013_chain_index"
down_revision = "0012_settlement"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"
TABLES = ("chain_events", "chain_cursor", "settlement_reconciliations")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE chain_events (
            id bigserial PRIMARY KEY,
            tx_hash text NOT NULL,
            log_index integer NOT NULL CHECK (log_index >= 0),
            block_number bigint NOT NULL,
            block_hash text NOT NULL,
            block_time timestamptz NOT NULL,
            contract text NOT NULL CHECK (contract IN ('vault', 'distributor')),
            event text NOT NULL,
            args jsonb NOT NULL,
            mirror text NOT NULL CHECK (mirror IN ('mirrored', 'recorded', 'refused')),
            transfer_id text,
            reason text,
            indexed_at timestamptz NOT NULL,
            UNIQUE (tx_hash, log_index)
        );
        CREATE INDEX ix_chain_events_event ON chain_events (event, block_number, log_index);
        CREATE TABLE chain_cursor (
            id bigserial PRIMARY KEY,
            from_block bigint NOT NULL UNIQUE CHECK (from_block >= 0),
            to_block bigint NOT NULL,
            to_block_hash text NOT NULL,
            events integer NOT NULL,
            at timestamptz NOT NULL,
            CHECK (to_block >= from_block)
        );
        CREATE TABLE settlement_reconciliations (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL,
            ok boolean NOT NULL,
            head_block bigint,
            indexed_block bigint,
            drifts jsonb NOT NULL,
            notes jsonb NOT NULL DEFAULT '[]'
        );
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {APP_ROLE}")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
