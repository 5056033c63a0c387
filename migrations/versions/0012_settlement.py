"""Settlement on chain (issue 11): the outbox, the signed transactions, their status events.

- ``outbox``: what must reach the chain, written in the transaction of the decision itself (the
  epoch close writes its root; a slash's execution writes the slash). One row per (topic, key).
- ``settlement_txs``: every signed transaction, before it is sent (so an unknown outcome is
  resolved by its hash and nonce, never by a blind resend); a replacement is a new row with the
  same signer and nonce. ``items`` are the outbox rows it settles.
- ``settlement_events``: the status history of a transaction (submitted, included, final,
  reorged, replaced, failed), append-only; a transaction's status is its latest event.

Revision ID: 0012_settlement
Revises: 0011_reward_restorations
Create Date: 2026-12-01
"""

from alembic import op

revision = "0012_settlement"
down_revision = "0011_reward_restorations"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE outbox (
            id bigserial PRIMARY KEY,
            topic text NOT NULL CHECK (topic IN ('root', 'slash')),
            key text NOT NULL,
            payload jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            UNIQUE (topic, key)
        );
        CREATE TABLE settlement_txs (
            id bigserial PRIMARY KEY,
            signer text NOT NULL,
            nonce bigint NOT NULL CHECK (nonce >= 0),
            topic text NOT NULL,
            items bigint[] NOT NULL,
            tx_hash text NOT NULL UNIQUE,
            raw_tx bytea NOT NULL,
            gas_limit bigint NOT NULL,
            max_fee_per_gas numeric(78, 0) NOT NULL,
            max_priority_fee_per_gas numeric(78, 0) NOT NULL,
            replaces bigint REFERENCES settlement_txs (id),
            created_at timestamptz NOT NULL
        );
        CREATE INDEX ix_settlement_txs_signer_nonce ON settlement_txs (signer, nonce);
        CREATE TABLE settlement_events (
            id bigserial PRIMARY KEY,
            tx_id bigint NOT NULL REFERENCES settlement_txs (id),
            status text NOT NULL CHECK (status IN
                ('submitted', 'send_failed', 'included', 'final', 'reorged', 'replaced',
                 'failed')),
            block_number bigint,
            block_hash text,
            detail jsonb NOT NULL DEFAULT '{}',
            at timestamptz NOT NULL
        );
        CREATE INDEX ix_settlement_events_tx ON settlement_events (tx_id, id);
        """
    )
    for table in ("outbox", "settlement_txs", "settlement_events"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {table}_id_seq TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE settlement_events")
    op.execute("DROP TABLE settlement_txs")
    op.execute("DROP TABLE outbox")
