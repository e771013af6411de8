"""Alembic on a fresh Postgres: upgrade, downgrade and upgrade again; models equal migrations."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from adapters.db.partitions import include_name
from adapters.db.tables import metadata
from entrypoints import migrate
from tests.integration.conftest import create_database, drop_database


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}
            )
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_upgrade_head_on_a_fresh_database_matches_the_models():
    url = create_database("billing_mig")
    try:
        migrate.upgrade(url)
        assert _diff(url) == []
        engine = create_engine(url)
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert {t.name for t in metadata.sorted_tables} <= tables
    finally:
        drop_database(url)


def test_downgrade_to_base_and_back_round_trips():
    url = create_database("billing_mig")
    try:
        config = migrate.alembic_config(url)
        command.upgrade(config, "head")
        command.downgrade(config, "base")
        engine = create_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        command.upgrade(config, "head")
        assert _diff(url) == []
    finally:
        drop_database(url)


def test_unbilled_usage_index_is_partial():
    url = create_database("billing_mig")
    try:
        migrate.upgrade(url)
        engine = create_engine(url)
        with engine.connect() as conn:
            definition = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_usage_events_unbilled'"
            ).scalar_one()
        engine.dispose()
        assert "WHERE (invoice_id IS NULL)" in definition
    finally:
        drop_database(url)
