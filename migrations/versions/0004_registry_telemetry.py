"""Node registry (versioned), telemetry inbox, raw heartbeats partitioned by day, rollups.

Revision ID: 0004_registry_telemetry
Revises: 0003_append_only
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004_registry_telemetry"
down_revision = "0003_append_only"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE providers (
            id text PRIMARY KEY,                 -- the owner wallet address, lower-case
            payout_address text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ck_providers_id CHECK (id ~ '^0x[0-9a-f]{40}$'),
            CONSTRAINT ck_providers_payout CHECK (payout_address ~ '^0x[0-9a-f]{40}$')
        );
        COMMENT ON TABLE providers IS 'Hardware providers; id is the owner wallet address';

        -- Every registration and update is a new version; history is never edited.
        CREATE TABLE node_versions (
            node_id text NOT NULL,
            version integer NOT NULL,
            provider_id text NOT NULL REFERENCES providers (id),
            provider_type text NOT NULL,
            region text NOT NULL,
            gpus integer NOT NULL,
            gpu_class text NOT NULL,
            ram_gb integer NOT NULL,
            storage_tb integer NOT NULL,
            bandwidth_gbps integer NOT NULL,
            fingerprint text NOT NULL,
            node_address text NOT NULL,
            capacity_units_ppm bigint NOT NULL,
            required_stake_base_units numeric(78, 0) NOT NULL,
            status text NOT NULL CHECK (status IN ('active', 'deregistered')),
            params_version integer NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (node_id, version)
        );
        CREATE TRIGGER node_versions_append_only BEFORE UPDATE OR DELETE ON node_versions
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

        -- The current version of each node (kept in step with node_versions by the service).
        CREATE TABLE nodes (
            node_id text PRIMARY KEY,
            version integer NOT NULL,
            provider_id text NOT NULL REFERENCES providers (id),
            provider_type text NOT NULL,
            region text NOT NULL,
            node_address text NOT NULL,
            fingerprint text NOT NULL,
            capacity_units_ppm bigint NOT NULL,
            status text NOT NULL CHECK (status IN ('active', 'deregistered')),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ix_nodes_provider ON nodes (provider_id);
        CREATE INDEX ix_nodes_fingerprint ON nodes (fingerprint);

        CREATE TABLE maintenance_windows (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            node_id text NOT NULL REFERENCES nodes (node_id),
            start_ts bigint NOT NULL,
            end_ts bigint NOT NULL,
            declared_at timestamptz NOT NULL,
            CHECK (end_ts > start_ts)
        );
        CREATE INDEX ix_maintenance_node ON maintenance_windows (node_id, start_ts);

        -- One row per accepted request: the unit of rollup work and of its idempotency.
        CREATE SEQUENCE telemetry_batch_ids;
        CREATE TABLE telemetry_batches (
            id bigint PRIMARY KEY,
            received_at timestamptz NOT NULL,
            accepted integer NOT NULL,
            rolled_at timestamptz
        );
        CREATE INDEX ix_telemetry_batches_pending ON telemetry_batches (received_at)
            WHERE rolled_at IS NULL;

        -- (node_id, seq) accepted once, across all partitions of heartbeats.
        CREATE TABLE heartbeat_seqs (
            node_id text NOT NULL,
            seq bigint NOT NULL,
            PRIMARY KEY (node_id, seq)
        );

        CREATE TABLE heartbeats (
            node_id text NOT NULL,
            seq bigint NOT NULL,
            ts bigint NOT NULL,
            epoch bigint NOT NULL,
            up boolean NOT NULL,
            gpu_util_ppm integer NOT NULL,
            latency_ms integer NOT NULL,
            jobs_ok integer NOT NULL,
            jobs_failed integer NOT NULL,
            bandwidth_mbps integer NOT NULL,
            user_rating smallint,
            signature bytea NOT NULL,
            batch_id bigint NOT NULL,
            received_at timestamptz NOT NULL
        ) PARTITION BY RANGE (ts);
        CREATE TABLE heartbeats_default PARTITION OF heartbeats DEFAULT;
        CREATE INDEX ix_heartbeats_batch ON heartbeats (batch_id);
        -- Heartbeats arrive in ts order: a BRIN index finds an epoch's rows for the cost of a
        -- few pages, where a btree would be maintained on every insert.
        CREATE INDEX ix_heartbeats_ts ON heartbeats USING brin (ts);
        CREATE TRIGGER heartbeats_append_only BEFORE UPDATE OR DELETE ON heartbeats
            FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

        CREATE TABLE node_epoch_rollups (
            node_id text NOT NULL,
            epoch bigint NOT NULL,
            received integer NOT NULL,
            up integer NOT NULL,
            received_in_maintenance integer NOT NULL,
            jobs_ok bigint NOT NULL,
            jobs_failed bigint NOT NULL,
            gpu_util_ppm_sum bigint NOT NULL,
            bandwidth_mbps_sum bigint NOT NULL,
            rating_sum integer NOT NULL,
            rating_count integer NOT NULL,
            PRIMARY KEY (epoch, node_id)
        );
        CREATE TABLE rollup_latency (
            epoch bigint NOT NULL,
            node_id text NOT NULL,
            latency_ms integer NOT NULL,
            count integer NOT NULL,
            PRIMARY KEY (epoch, node_id, latency_ms)
        );

        -- Daily partitions are created ahead by the service, which runs as the app role: this
        -- owner-defined function is the only way it can create them.
        CREATE FUNCTION ensure_heartbeat_partition(day bigint) RETURNS boolean
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        DECLARE
            name text := 'heartbeats_d' || day::text;
        BEGIN
            IF to_regclass(name) IS NOT NULL THEN
                RETURN false;
            END IF;
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF heartbeats FOR VALUES FROM (%s) TO (%s)',
                name, day * 86400, (day + 1) * 86400);
            RETURN true;
        EXCEPTION WHEN check_violation THEN
            -- The default partition already holds rows of that day: leave them there.
            RETURN false;
        END;
        $$;
        """
    )
    op.execute("REVOKE ALL ON FUNCTION ensure_heartbeat_partition(bigint) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION ensure_heartbeat_partition(bigint) TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON providers, node_versions, heartbeats TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON nodes, telemetry_batches TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON node_epoch_rollups, rollup_latency TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON maintenance_windows TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, DELETE ON heartbeat_seqs TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON SEQUENCE telemetry_batch_ids TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION ensure_heartbeat_partition(bigint)")
    op.execute("DROP SEQUENCE telemetry_batch_ids")
    for table in (
        "rollup_latency",
        "node_epoch_rollups",
        "heartbeats",
        "heartbeat_seqs",
        "telemetry_batches",
        "maintenance_windows",
        "nodes",
        "node_versions",
        "providers",
    ):
        op.execute(f"DROP TABLE {table} CASCADE")
