"""The usage ledger's monthly partitions on Postgres (the embedded SQLite keeps one table).

`usage_events` is partitioned by RANGE on occurred_at, one partition per UTC month, named
usage_events_YYYY_MM, plus usage_events_default for a month that has none (an entry is never
refused for its date). Creating a month whose entries already wait in the default partition
moves them into it, in one transaction that holds the ledger's lock for that moment.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

DEFAULT_PARTITION = "usage_events_default"
MONTHS_AHEAD = 3
MONTHS_BEHIND = 1
_NAME = re.compile(r"^usage_events_(\d{4})_(\d{2})$")


def is_partition(name: str | None) -> bool:
    """A ledger partition's table (schema comparisons leave them to this module)."""
    return name == DEFAULT_PARTITION or bool(name and _NAME.match(name))


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name` hook: the models describe the partitioned table only."""
    return not (type_ == "table" and is_partition(name))


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(month: datetime, months: int) -> datetime:
    index = month.year * 12 + month.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"usage_events_{month:%Y_%m}"


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(
        text("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('usage_events')")
    ).scalar()
    return found is not None


def month_partitions(conn: Connection) -> list[datetime]:
    """The months that have a partition, oldest first."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('usage_events')"
        )
    ).scalars()
    months = []
    for name in names:
        matched = _NAME.match(name)
        if matched:
            months.append(datetime(int(matched[1]), int(matched[2]), 1, tzinfo=UTC))
    return sorted(months)


def _bounds(month: datetime) -> str:
    # Literals with an explicit +00: the bounds do not depend on the session's time zone.
    return (
        f"FROM ('{month:%Y-%m-%d} 00:00:00+00') TO ('{add_months(month, 1):%Y-%m-%d} 00:00:00+00')"
    )


def create_month(conn: Connection, month: datetime) -> bool:
    """Create the month's partition if it is missing; answers whether it was created. Its
    entries already in the default partition move into it."""
    name = partition_name(month)
    if conn.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None:
        return False
    waiting = conn.execute(
        text(
            f"SELECT 1 FROM {DEFAULT_PARTITION} WHERE occurred_at >= :lo "  # noqa: S608
            "AND occurred_at < :hi LIMIT 1"
        ),
        {"lo": month, "hi": add_months(month, 1)},
    ).scalar()
    # Names and bounds come from a datetime, never from input.
    create = f"CREATE TABLE {name} PARTITION OF usage_events FOR VALUES {_bounds(month)}"
    if waiting is None:
        conn.execute(text(create))
        return True
    conn.execute(text(f"ALTER TABLE usage_events DETACH PARTITION {DEFAULT_PARTITION}"))
    conn.execute(text(create))
    conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at >= :lo "  # noqa: S608
            f"AND occurred_at < :hi RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ),
        {"lo": month, "hi": add_months(month, 1)},
    )
    conn.execute(text(f"ALTER TABLE usage_events ATTACH PARTITION {DEFAULT_PARTITION} DEFAULT"))
    return True


def ensure_partitions(
    conn: Connection, now: datetime, ahead: int = MONTHS_AHEAD, behind: int = MONTHS_BEHIND
) -> list[str]:
    """Partitions from `behind` months before now's month to `ahead` months after it; answers
    the names created. Safe to run twice or at once (one runner at a time, by a lock)."""
    if not is_partitioned(conn):
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('usage-partitions', 0))"))
    current = month_start(now)
    created = []
    for offset in range(-behind, ahead + 1):
        month = add_months(current, offset)
        if create_month(conn, month):
            created.append(partition_name(month))
    return created


def drop_month(conn: Connection, month: datetime) -> None:
    """Detach and drop a month's partition (its entries were archived)."""
    name = partition_name(month)
    conn.execute(text(f"ALTER TABLE usage_events DETACH PARTITION {name}"))
    conn.execute(text(f"DROP TABLE {name}"))


def ensure_partitions_on(engine: Engine, now: datetime) -> list[str]:
    """`ensure_partitions` in a transaction of its own (the scheduled job, `migrate`)."""
    with engine.begin() as conn:
        return ensure_partitions(conn, now)
