"""Stored parameter sets (every set an epoch was computed under), slot uptime, price facts.

Revision ID: 0008_economics
Revises: 0007_standing_appeals
Create Date: 2026-12-01
"""

from alembic import op

revision = "0008_economics"
down_revision = "0007_standing_appeals"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        -- Every parameter set ever used: immutable, keyed by the hash of its canonical JSON.
        CREATE TABLE parameter_sets (
            params_hash text PRIMARY KEY CHECK (params_hash ~ '^[0-9a-f]{64}$'),
            version integer NOT NULL CHECK (version > 0),
            canonical_json text NOT NULL,
            stored_at timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE parameter_sets IS
            'Immutable parameter sets; an epoch references the one it was computed under';
        CREATE TRIGGER parameter_sets_append_only BEFORE UPDATE OR DELETE ON parameter_sets
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """
    )
    op.execute(f"GRANT SELECT, INSERT ON parameter_sets TO {APP_ROLE}")
    # Timestamped SWARM prices (reference and current), posted by an operator or an oracle.
    op.execute(
        """
        CREATE TABLE price_facts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind text NOT NULL CHECK (kind IN ('reference', 'current')),
            price_micro_usd bigint NOT NULL CHECK (price_micro_usd > 0),
            observed_at timestamptz NOT NULL,
            source text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (kind, source, observed_at)      -- idempotency: one price per source and time
        );
        CREATE INDEX ix_price_facts_latest ON price_facts (kind, observed_at DESC);
        COMMENT ON TABLE price_facts IS
            'SWARM price observations; an epoch reads the latest of each kind as of its end';
        CREATE TRIGGER price_facts_append_only BEFORE UPDATE OR DELETE ON price_facts
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
        """
    )
    op.execute(f"GRANT SELECT, INSERT ON price_facts TO {APP_ROLE}")
    # Every provider gets its rewards_claimable account (new providers get it at registration).
    op.execute(
        """
        INSERT INTO accounts (owner, kind, asset, normal_balance, may_go_negative)
        SELECT owner, 'rewards_claimable', asset, 'credit', false FROM accounts
        WHERE kind = 'rewards_accrued'
        ON CONFLICT (owner, kind, asset) DO NOTHING;
        INSERT INTO balances (account_id)
        SELECT a.id FROM accounts a WHERE a.kind = 'rewards_claimable'
        AND NOT EXISTS (SELECT 1 FROM balances b WHERE b.account_id = a.id);
        """
    )
    # The maturity step reads the last few epochs' reward and maturity transfers at each close.
    op.execute(
        "CREATE INDEX ix_transfers_reward_epoch ON transfers (code, epoch) WHERE code IN (100, 101)"
    )
    # Uptime per interval slot (SPEC 3): bit k of the mask is slot k of the epoch, 63 slots per
    # bigint word (never negative). Merged with OR, so the result is order-independent.
    op.execute(
        """
        ALTER TABLE heartbeats ADD COLUMN slot integer;
        -- Excused slots come from the slot masks now; this per-heartbeat count is not read.
        ALTER TABLE node_epoch_rollups DROP COLUMN received_in_maintenance;
        COMMENT ON COLUMN heartbeats.slot IS
            'Interval slot of its epoch: (ts - epoch start) / heartbeat interval, rounded down';
        ALTER TABLE node_epoch_rollups
            ADD COLUMN slots_received bigint[] NOT NULL DEFAULT '{}',
            ADD COLUMN slots_up bigint[] NOT NULL DEFAULT '{}';
        COMMENT ON COLUMN node_epoch_rollups.slots_received IS
            'Bitmask of the interval slots with at least one accepted heartbeat (63 per word)';
        COMMENT ON COLUMN node_epoch_rollups.slots_up IS
            'Bitmask of the interval slots with at least one accepted up heartbeat';
        CREATE FUNCTION slot_mask_or(a bigint[], b bigint[]) RETURNS bigint[]
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT coalesce(array_agg(coalesce(x, 0) | coalesce(y, 0) ORDER BY i), '{}')
            FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i) $$;
        """
    )


def downgrade() -> None:
    # The rewards_claimable accounts stay: accounts are append-only (a trigger refuses DELETE).
    op.execute("DROP FUNCTION slot_mask_or(bigint[], bigint[])")
    op.execute("ALTER TABLE node_epoch_rollups DROP COLUMN slots_received, DROP COLUMN slots_up")
    op.execute("ALTER TABLE heartbeats DROP COLUMN slot")
    op.execute(
        "ALTER TABLE node_epoch_rollups ADD COLUMN received_in_maintenance integer NOT NULL "
        "DEFAULT 0"
    )
    op.execute("DROP TABLE price_facts")
    op.execute("DROP INDEX ix_transfers_reward_epoch")
    op.execute("DROP TABLE parameter_sets")
