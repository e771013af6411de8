"""Alembic environment: table metadata from the adapters, URL from settings; never Flask."""

from __future__ import annotations

from datetime import UTC, datetime
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

from adapters.db.partitions import ensure_partitions, include_name
from adapters.db.tables import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if not config.get_main_option("sqlalchemy.url"):
    from entrypoints.config import Settings

    config.set_main_option("sqlalchemy.url", Settings().sqlalchemy_url.replace("%", "%%"))

target_metadata = metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_name=include_name,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
            # Every upgrade (the release step included) makes the ledger's months ahead.
            ensure_partitions(connection, datetime.now(UTC))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
