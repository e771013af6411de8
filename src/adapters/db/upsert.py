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
