"""Append-only transfers: triggers refuse UPDATE, DELETE and TRUNCATE; the app role can't either.

Two independent guards. The triggers stop anyone who has not deliberately disabled them (even
the owner). The application role is granted SELECT and INSERT on transfers only, so a bug or an
injected statement in the service cannot rewrite history. Whatever slips past both (a superuser
disabling triggers) is caught by the hash chain that `swarm-ledger verify` checks.

Revision ID: 0003_append_only
Revises: 0002_transfers
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003_append_only"
down_revision = "0002_transfers"
branch_labels = None
depends_on = None

APP_ROLE = "swarm_ledger_app"


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION
                '% on % refused: ledger facts are append-only (corrections are new transfers)',
                TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER transfers_no_update_delete BEFORE UPDATE OR DELETE ON transfers "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
    )
    # Accounts are facts too: transfers name them without foreign keys, so none may vanish.
    op.execute(
        "CREATE TRIGGER accounts_no_update_delete BEFORE UPDATE OR DELETE ON accounts "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
    )
    # Roles are cluster-wide: create it once, whichever database migrates first.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON transfers TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON balances, ledger_head TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON accounts TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON assets, alembic_version TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON transfers, balances, ledger_head, accounts, assets FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
    op.execute("DROP TRIGGER accounts_no_truncate ON accounts")
    op.execute("DROP TRIGGER accounts_no_update_delete ON accounts")
    op.execute("DROP TRIGGER transfers_no_truncate ON transfers")
    op.execute("DROP TRIGGER transfers_no_update_delete ON transfers")
    op.execute("DROP FUNCTION ledger_refuse_change()")
    # The role stays: other databases on the same cluster may still use it.
