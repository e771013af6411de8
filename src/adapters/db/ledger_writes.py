"""Storing ledger entries once: their keys first, in usage_event_keys, then the entries.

On Postgres the ledger is partitioned by month, and a partitioned table's unique index must
contain the partition key: a key sent again with another month's occurred_at would not
collide there. So each entry's keys (organization, metric, idempotency key; the counter's
entry id) are inserted into one non-partitioned table with ON CONFLICT DO NOTHING, and only
the entries whose key row is new are stored, in the same statement (large batches) or the
same transaction. Two writers of one key: the second waits on the first's uncommitted key
row, then skips it, whatever month each gave. The key row's event_id is the entry's id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from adapters.db.tables import usage_event_keys, usage_events

# What makes an entry unique: organization, metric, idempotency key, counter entry id.
Identity = tuple[str, str, str | None, str | None]
KEY_COLUMNS = ("org_id", "metric", "idempotency_key", "entry_id", "occurred_at")
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
COPY_ABOVE = 20  # rows: a larger batch goes through COPY on Postgres


def identity(row: Mapping[str, Any]) -> Identity:
    return row["org_id"], row["metric"], row.get("idempotency_key"), row.get("entry_id")


def store_new_usage(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Identity]:
    """Store the rows whose keys are new, in the order given (the callers' lock order); answer
    the identity of each row stored. Of rows sharing an identity, the first is stored."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql" and len(rows) > COPY_ABOVE:
        return _copy(conn, rows)
    return _insert(conn, rows)


def _insert(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Identity]:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    c = usage_event_keys.c
    keys = (
        dialect.insert(usage_event_keys)
        .on_conflict_do_nothing()  # either key colliding skips the row
        .returning(c.event_id, c.org_id, c.metric, c.idempotency_key, c.entry_id)
    )
    new = {
        (o, m, k, e): event_id
        for event_id, o, m, k, e in conn.execute(
            keys, [{name: row.get(name) for name in KEY_COLUMNS} for row in rows]
        )
    }
    stored: list[Identity] = []
    values = []
    for row in rows:
        found = identity(row)
        if found in new:
            values.append({"id": new.pop(found), **{n: row.get(n) for n in USAGE_COLUMNS}})
            stored.append(found)
    if values:
        conn.execute(usage_events.insert(), values)
    return stored


def _copy(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Identity]:
    """COPY into a session staging table, then one statement: the new keys, and the entries
    whose key row was inserted. Several times faster than a large multi-row INSERT, whose text
    the driver parses again on every call."""
    columns = ", ".join(USAGE_COLUMNS)
    keys = ", ".join(KEY_COLUMNS)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS usage_ledger_batch (position bigint, "
        "event_id bigint DEFAULT nextval('usage_events_id_seq'), org_id text, metric text, "
        "quantity bigint, occurred_at timestamptz, received_at timestamptz, "
        "idempotency_key text, conversation_id text, source text, entry_id text) "
        "ON COMMIT DELETE ROWS"
    )
    cursor.execute("TRUNCATE usage_ledger_batch")
    with cursor.copy(f"COPY usage_ledger_batch (position, {columns}) FROM STDIN") as copy:
        for position, row in enumerate(rows):
            copy.write_row((position, *(row.get(c) for c in USAGE_COLUMNS)))
    # The column lists are this module's constants: no input reaches the SQL text. Keys go in
    # the rows' given (lock) order, so overlapping batches take their key locks in one order.
    cursor.execute(
        f"WITH new_keys AS (INSERT INTO usage_event_keys (event_id, {keys}) "  # noqa: S608
        f"SELECT event_id, {keys} FROM usage_ledger_batch ORDER BY position "
        "ON CONFLICT DO NOTHING RETURNING event_id) "
        f"INSERT INTO usage_events (id, {columns}) SELECT b.event_id, "
        + ", ".join(f"b.{name}" for name in USAGE_COLUMNS)
        + " FROM usage_ledger_batch b JOIN new_keys k ON k.event_id = b.event_id "
        "ORDER BY b.position RETURNING org_id, metric, idempotency_key, entry_id"
    )
    return [tuple(found) for found in cursor.fetchall()]
