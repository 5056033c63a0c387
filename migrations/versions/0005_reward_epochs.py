"""Reward epochs: the close record, per-node receipts, per-provider cumulative leaves + proofs.

Revision ID: 0005_reward_epochs
Revises: 0004_registry_telemetry
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005_reward_epochs"
down_revision = "0004_registry_telemetry"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE reward_epochs (
            epoch bigint PRIMARY KEY,
            pool_base_units numeric(78, 0) NOT NULL,
            distributed_base_units numeric(78, 0) NOT NULL,
            undistributed_base_units numeric(78, 0) NOT NULL,
            scale_ppm bigint NOT NULL,
            scale jsonb NOT NULL,                  -- every factor of the dynamic scaling
            network jsonb NOT NULL,                -- the conditions the scale was computed from
            total_weight numeric NOT NULL,
            node_count integer NOT NULL,
            eligible_nodes integer NOT NULL,
            params_version integer NOT NULL,
            params_hash text NOT NULL,
            calculator_version text NOT NULL,
            inputs_digest text NOT NULL,           -- sha256 of every input rollup and condition
            merkle_root bytea NOT NULL,            -- over (provider, cumulative earnings)
            provenance_digest text NOT NULL,       -- sha256(root, inputs, params hash, calculator)
            leaf_count integer NOT NULL,
            receipt_fields jsonb NOT NULL,         -- names of the values in reward_receipts
            closed_at timestamptz NOT NULL
        );
        COMMENT ON TABLE reward_epochs IS 'One row per closed epoch; never updated';

        CREATE TABLE reward_receipts (
            epoch bigint NOT NULL,
            node_id text NOT NULL,
            provider_id text NOT NULL,
            amount_base_units numeric(78, 0) NOT NULL,
            ideal_base_units numeric(78, 0) NOT NULL,
            -- Every input, score and multiplier: a JSON array in the order of the epoch's
            -- receipt_fields (json, not jsonb: 100k receipts are written per close and only
            -- ever read whole; names once per epoch instead of in every row).
            receipt json NOT NULL,
            PRIMARY KEY (epoch, node_id)
        );
        CREATE INDEX ix_reward_receipts_node ON reward_receipts (node_id, epoch);

        CREATE TABLE reward_leaves (
            epoch bigint NOT NULL,
            provider_id text NOT NULL,
            epoch_amount_base_units numeric(78, 0) NOT NULL,
            cumulative_base_units numeric(78, 0) NOT NULL,
            leaf_index integer NOT NULL,
            proof bytea NOT NULL,                  -- concatenated 32-byte sibling hashes
            PRIMARY KEY (epoch, provider_id)
        );
        CREATE INDEX ix_reward_leaves_provider ON reward_leaves (provider_id, epoch DESC);

        CREATE TRIGGER reward_epochs_append_only BEFORE UPDATE OR DELETE ON reward_epochs
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE TRIGGER reward_receipts_append_only BEFORE UPDATE OR DELETE ON reward_receipts
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        CREATE TRIGGER reward_leaves_append_only BEFORE UPDATE OR DELETE ON reward_leaves
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """
    )
    op.execute(
        f"GRANT SELECT, INSERT ON reward_epochs, reward_receipts, reward_leaves TO {APP_ROLE}"
    )


def downgrade() -> None:
    op.execute("DROP TABLE reward_leaves, reward_receipts, reward_epochs")
