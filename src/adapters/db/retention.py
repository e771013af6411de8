"""Archiving the raw ledger entries of invoiced months (flask billing archive-usage).

A month is archived when it ended at least `keep_months` months before the current one and
holds no unbilled voice usage and no entry of a draft invoice. Its entries are written to a
gzip'd JSON-lines file, read back and checked (entries, quantity, id range), recorded in
usage_archives with the month's totals per organization and metric, then dropped: on
Postgres the month's partition is detached and dropped; on SQLite its rows are deleted.
Invoices keep their lines and totals; quota gauges and rebuilds count the archived totals.
Keys stay in usage_event_keys, so an archived entry sent again is still a duplicate.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, column, func, select, table, text

from adapters.db import partitions
from adapters.db.partitions import add_months, month_start
from adapters.db.rows import utc
from adapters.db.tables import (
    usage_archived_totals,
    usage_archives,
    usage_events,
    usage_invoices,
)
from adapters.db.uow import TAKE_WRITE_LOCK
from domain.model.invoicing import BILLED_METRICS, InvoiceStatus

MIN_KEEP_MONTHS = partitions.MONTHS_BEHIND + 1


@dataclass(frozen=True)
class MonthOutcome:
    month: datetime
    archived: bool
    entries: int
    reason: str = ""  # why it was refused
    file: str = ""


class ArchiveMismatch(RuntimeError):
    """The file read back does not hold what the database holds: nothing was dropped."""


def _in_month(month: datetime) -> Any:
    c = usage_events.c
    return and_(c.occurred_at >= month, c.occurred_at < add_months(month, 1))


def candidate_months(conn: Connection, now: datetime, keep_months: int) -> list[datetime]:
    """Months with entries (or a partition) ending before the kept months, oldest first."""
    before = add_months(month_start(now), -keep_months)
    archived = set(conn.execute(select(usage_archives.c.month)).scalars())
    if partitions.is_partitioned(conn):
        months = set(partitions.month_partitions(conn))
    else:
        firsts = conn.execute(select(func.min(usage_events.c.occurred_at))).scalar()
        months = set()
        if firsts is not None:
            month = month_start(utc(firsts))
            while month < before:
                if _facts(conn, usage_events, month)[0]:
                    months.add(month)
                month = add_months(month, 1)
    return sorted(m for m in months if m < before and m not in {utc(a) for a in archived})


def refusal(conn: Connection, month: datetime) -> str:
    c, i = usage_events.c, usage_invoices.c
    unbilled = conn.execute(
        select(func.count()).where(
            _in_month(month),
            c.invoice_id.is_(None),
            c.metric.in_([m.value for m in BILLED_METRICS]),
        )
    ).scalar_one()
    if unbilled:
        return f"{unbilled} unbilled entries: invoice them first (billing run-invoicing)"
    drafts = conn.execute(
        select(func.count())
        .select_from(usage_events.join(usage_invoices, i.id == c.invoice_id))
        .where(_in_month(month), i.status == InvoiceStatus.DRAFT.value)
    ).scalar_one()
    if drafts:
        return f"{drafts} entries on invoices still in draft: let them finish first"
    return ""


def _facts(conn: Connection, source: Any, month: datetime) -> tuple[int, int, int, int]:
    c = source.c
    found = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(c.quantity), 0),
            func.coalesce(func.min(c.id), 0),
            func.coalesce(func.max(c.id), 0),
        ).where(c.occurred_at >= month, c.occurred_at < add_months(month, 1))
    ).one()
    return int(found[0]), int(found[1]), int(found[2]), int(found[3])


def _row(values: Any) -> str:
    return json.dumps(
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items()},
        separators=(",", ":"),
    )


def _write(engine: Engine, month: datetime, path: Path) -> tuple[int, int, int, int]:
    """The month's entries in id order into `path`; answers what was written."""
    partial = path.with_suffix(path.suffix + ".partial")
    entries = quantity = 0
    low = high = 0
    with engine.connect() as conn, gzip.open(partial, "wt", encoding="utf-8") as out:
        stmt = select(usage_events).where(_in_month(month)).order_by(usage_events.c.id)
        for row in conn.execution_options(stream_results=True, yield_per=5000).execute(stmt):
            values = row._mapping
            out.write(_row(values) + "\n")
            entries += 1
            quantity += int(values["quantity"])
            low = low or int(values["id"])
            high = int(values["id"])
    os.replace(partial, path)
    return entries, quantity, low, high


def _read_back(path: Path) -> tuple[int, int, int, int]:
    entries = quantity = low = high = 0
    with gzip.open(path, "rt", encoding="utf-8") as archived:
        for line in archived:
            values = json.loads(line)
            entries += 1
            quantity += int(values["quantity"])
            low = low or int(values["id"])
            high = int(values["id"])
    return entries, quantity, low, high


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as archived:
        for chunk in iter(lambda: archived.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source(conn: Connection, month: datetime) -> tuple[Any, bool]:
    """Where the month's entries are now: its detached partition (Postgres), or the ledger
    under the embedded database's writer lock."""
    if partitions.is_partitioned(conn):
        name = partitions.partition_name(month)
        # From here on, entries of this month go to the default partition: never lost.
        conn.execute(text(f"ALTER TABLE usage_events DETACH PARTITION {name}"))
        return table(name, *(column(c.name, c.type) for c in usage_events.c)), True
    conn.execute(TAKE_WRITE_LOCK, {"key": "usage-archive"})
    return usage_events, False


def archive_month(engine: Engine, month: datetime, directory: Path, now: datetime) -> MonthOutcome:
    with engine.connect() as conn:
        reason = refusal(conn, month)
    if reason:
        return MonthOutcome(month, False, 0, reason)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"usage_events_{month:%Y_%m}.jsonl.gz"
    written = _write(engine, month, path)
    if _read_back(path) != written:
        raise ArchiveMismatch(f"{path} does not read back as written; nothing was dropped")
    digest = _sha256(path)
    with engine.connect() as conn:
        conn.begin()
        source, partitioned = _source(conn, month)
        held = _facts(conn, source, month)
        late = _unbilled(conn, source, month)
        if held != written or late:
            conn.rollback()  # the partition is attached again, every row stays
            why = f"{late} unbilled entries arrived meanwhile" if late else "entries changed"
            return MonthOutcome(month, False, held[0], f"{why} while archiving: run it again")
        conn.execute(
            usage_archives.insert().values(
                month=month, archived_at=now, file=str(path), sha256=digest, entries=held[0]
            )
        )
        c = source.c
        totals = conn.execute(
            select(c.org_id, c.metric, func.sum(c.quantity), func.count())
            .where(c.occurred_at >= month, c.occurred_at < add_months(month, 1))
            .group_by(c.org_id, c.metric)
        ).all()
        if totals:
            conn.execute(
                usage_archived_totals.insert(),
                [
                    {"month": month, "org_id": o, "metric": m, "quantity": q, "entries": n}
                    for o, m, q, n in totals
                ],
            )
        if partitioned:
            conn.execute(text(f"DROP TABLE {partitions.partition_name(month)}"))
        else:
            conn.execute(usage_events.delete().where(_in_month(month)))
        conn.commit()
    return MonthOutcome(month, True, held[0], file=str(path))


def _unbilled(conn: Connection, source: Any, month: datetime) -> int:
    c = source.c
    return int(
        conn.execute(
            select(func.count()).where(
                c.occurred_at >= month,
                c.occurred_at < add_months(month, 1),
                c.invoice_id.is_(None),
                c.metric.in_([m.value for m in BILLED_METRICS]),
            )
        ).scalar_one()
    )


def archive_months(
    engine: Engine, now: datetime, keep_months: int, directory: Path, dry_run: bool
) -> list[MonthOutcome]:
    """Archive every month old enough, oldest first; a refused month stops none after it."""
    if keep_months < MIN_KEEP_MONTHS:
        raise ValueError(f"keep at least {MIN_KEEP_MONTHS} months")
    with engine.connect() as conn:
        months = candidate_months(conn, now, keep_months)
        if dry_run:
            return [
                MonthOutcome(m, False, _facts(conn, usage_events, m)[0], refusal(conn, m))
                for m in months
            ]
    return [archive_month(engine, month, directory, now) for month in months]
