"""The SQLAlchemy models and the Alembic migrations describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from ledger.kit.models import Base


def test_models_match_migrations(fresh_db_url: str) -> None:
    engine = create_engine(fresh_db_url)
    try:
        with engine.connect() as conn:
            # Tables created in SQL only (registry, telemetry) are not modelled; compare the rest.
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_object": lambda obj, name, type_, reflected, compare_to: (
                        type_ != "table" or name in Base.metadata.tables
                    ),
                },
            )
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff
