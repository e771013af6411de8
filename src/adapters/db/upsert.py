"""INSERT ... ON CONFLICT DO NOTHING for Postgres and SQLite alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_if_absent(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
                     conflict_columns: Sequence[str]) -> int:
    """Insert the rows whose key is new; answer how many rows this statement inserted."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # Rows are passed as parameters (not .values(rows)) so the compiled statement is cached;
    # SQLAlchemy batches many rows into multi-row VALUES ("insertmanyvalues").
    stmt = (dialect.insert(table)
            .on_conflict_do_nothing(index_elements=list(conflict_columns))
            .returning(table.c[conflict_columns[0]]))
    # Counted from RETURNING: drivers do not all report rowcount for ON CONFLICT inserts.
    return len(conn.execute(stmt, list(rows)).all())


USAGE_COLUMNS = ("org_id", "metric", "quantity", "occurred_at", "received_at", "idempotency_key",
                 "conversation_id")


def copy_if_absent(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Usage events in bulk on Postgres: COPY into a session staging table, then one
    INSERT ... SELECT ... ON CONFLICT DO NOTHING, in the caller's transaction. Several times
    faster than a large multi-row INSERT, whose text the driver parses again on every call."""
    columns = ", ".join(USAGE_COLUMNS)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute("CREATE TEMP TABLE IF NOT EXISTS usage_events_staging "
                   "(LIKE usage_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    cursor.execute("TRUNCATE usage_events_staging")
    with cursor.copy(f"COPY usage_events_staging ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(row[c] for c in USAGE_COLUMNS))
    # The column list is this module's constant: no input reaches the SQL text.
    cursor.execute(f"INSERT INTO usage_events ({columns}) SELECT {columns} FROM "  # noqa: S608
                   "usage_events_staging ON CONFLICT (org_id, idempotency_key) DO NOTHING "
                   "RETURNING id")
    return len(cursor.fetchall())
