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
