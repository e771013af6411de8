"""INSERT ... ON CONFLICT DO NOTHING for Postgres and SQLite alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection, table: Table, conflict_columns: Sequence[str] | None) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    # No target: a row that collides on any unique constraint is skipped.
    return stmt.on_conflict_do_nothing(
        index_elements=list(conflict_columns) if conflict_columns else None
    )


def insert_if_absent(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict_columns: Sequence[str],
    any_conflict: bool = False,
) -> int:
    """Insert the rows whose key is new; answer how many rows this statement inserted. With
    `any_conflict`, a row colliding on any unique constraint is skipped (two concurrent inserts
    of one row may collide first on another unique index than the key's, which a targeted
    ON CONFLICT would raise on)."""
    if not rows:
        return 0
    # Rows are passed as parameters (not .values(rows)) so the compiled statement is cached;
    # SQLAlchemy batches many rows into multi-row VALUES ("insertmanyvalues").
    target = None if any_conflict else conflict_columns
    stmt = _insert(conn, table, target).returning(table.c[conflict_columns[0]])
    # Counted from RETURNING: drivers do not all report rowcount for ON CONFLICT inserts.
    return len(conn.execute(stmt, list(rows)).all())


IDENTITY = ("metric", "idempotency_key", "entry_id")


def insert_new_rows(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """Insert the rows that collide with no unique constraint, in the order given; answer
    the identity (metric, idempotency key, entry id) of each row stored."""
    if not rows:
        return []
    stmt = _insert(conn, table, None).returning(*(table.c[name] for name in IDENTITY))
    # One shape per statement: insertmanyvalues needs every row to bind the same columns.
    shaped = [{c.name: row.get(c.name) for c in table.c if c.name != "id"} for row in rows]
    return [tuple(found) for found in conn.execute(stmt, shaped)]


USAGE_COLUMNS = (
    "org_id",
    "metric",
    "quantity",
    "occurred_at",
    "received_at",
    "idempotency_key",
    "conversation_id",
    "source",
    "entry_id",
)


def copy_new_usage(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Usage in bulk on Postgres: COPY into a session staging table, then one
    INSERT ... SELECT ... ON CONFLICT DO NOTHING in the rows' order, in the caller's
    transaction. Several times faster than a large multi-row INSERT, whose text the driver
    parses again on every call."""
    columns = ", ".join(USAGE_COLUMNS)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS usage_ledger_staging (position bigint, "
        "org_id text, metric text, quantity bigint, occurred_at timestamptz, "
        "received_at timestamptz, idempotency_key text, conversation_id text, "
        "source text, entry_id text) ON COMMIT DELETE ROWS"
    )
    cursor.execute("TRUNCATE usage_ledger_staging")
    with cursor.copy(f"COPY usage_ledger_staging (position, {columns}) FROM STDIN") as copy:
        for position, row in enumerate(rows):
            copy.write_row((position, *(row.get(c) for c in USAGE_COLUMNS)))
    # The column list is this module's constant: no input reaches the SQL text. Rows go in
    # their given (lock) order, so overlapping batches take their key locks in one order.
    cursor.execute(
        f"INSERT INTO usage_events ({columns}) SELECT {columns} "  # noqa: S608
        "FROM usage_ledger_staging ORDER BY position ON CONFLICT DO NOTHING "
        "RETURNING metric, idempotency_key, entry_id"
    )
    return [tuple(found) for found in cursor.fetchall()]
