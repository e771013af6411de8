"""Fill the usage ledger to a given size before a benchmark measures, by COPY: many
organizations, twelve invoiced months (each organization's month linked to a paid usage invoice)
and the current month unbilled, then VACUUM ANALYZE so the planner knows the table's size and no
autovacuum of the fill runs while a benchmark measures.

Rows go in through the parent table `usage_events` with explicit columns, so a ledger
partitioned by month routes each row to its partition. A table that keeps one row per usage
event beside the ledger is one more entry in `PER_EVENT_TABLES`; the key rows (`KEY_TABLES`) are
written from the rows once they are in, and every month written gets its partition first.

    from bench.ledger_fill import fill
    fill(dsn, 20_000_000, month=datetime(2026, 10, 1, tzinfo=UTC), billed=orgs)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

# A ledger row, in this order: what `rows_of` yields.
EVENT_COLUMNS = (
    "org_id",
    "metric",
    "quantity",
    "occurred_at",
    "received_at",
    "idempotency_key",
    "conversation_id",
    "invoice_id",
    "source",
)

# Every table written once per ledger row: its name and the columns of the row it takes.
PER_EVENT_TABLES: list[tuple[str, tuple[str, ...]]] = [("usage_events", EVENT_COLUMNS)]

ROWS_PER_ORG_MONTH = 100  # the ledger grows by organizations, not by rows per organization
HISTORY_MONTHS = 12
CHUNK_ROWS = 200_000  # rows formatted per COPY round


@dataclass(frozen=True)
class Filled:
    rows: int
    organizations: int
    invoices: int
    seconds: float

    def line(self) -> str:
        return (
            f"ledger filled: {self.rows:,} rows, {self.organizations:,} organizations, "
            f"{self.invoices:,} invoices in {self.seconds:.0f} s"
        )


def month_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return month.replace(year=index // 12, month=index % 12 + 1)


@dataclass(frozen=True)
class _Slot:
    """One organization's rows of one month."""

    org: str
    month: datetime
    rows: int
    invoice_id: str | None


def plan(rows: int, month: datetime, billed: Sequence[str]) -> tuple[list[str], list[_Slot]]:
    """The new organizations and every organization-month's share of `rows`, month by month.

    `billed` organizations exist already and write their current month themselves: they get
    history only. The new ones get history and a current month."""
    if rows <= 0:
        return [], []
    filler = max(1, math.ceil(rows / ((HISTORY_MONTHS + 1) * ROWS_PER_ORG_MONTH)))
    new = [f"ledger_{n:06d}" for n in range(filler)]
    history = [*billed, *new]
    months = [add_months(month, n - HISTORY_MONTHS) for n in range(HISTORY_MONTHS)]
    keys = [(m, org, f"lhist_{org}_{m:%Y%m}") for m in months for org in history]
    keys += [(month, org, None) for org in new]
    share, extra = divmod(rows, len(keys))
    slots = [
        _Slot(org, m, share + (n < extra), invoice) for n, (m, org, invoice) in enumerate(keys)
    ]
    return new, [s for s in slots if s.rows]


def _quantity(i: int) -> int:
    return 100 + (i * 37) % 900


def rows_of(slot: _Slot, until: datetime | None) -> Iterator[tuple[object, ...]]:
    end = add_months(slot.month, 1)
    if until is not None and slot.invoice_id is None:
        end = min(end, until)
    step = (end - slot.month) / (slot.rows + 1)
    stamp = f"{slot.month:%Y%m}"
    for i in range(slot.rows):
        at = slot.month + step * (i + 1)
        yield (
            slot.org,
            "stt_words" if i % 3 else "tts_words",
            _quantity(i),
            at,
            at + timedelta(seconds=2),
            f"{slot.org}-{stamp}-{i}",
            f"c-{i % 50}",
            slot.invoice_id,
            "recorded",
        )


def _text(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy_chunk(cur: psycopg.Cursor, chunk: list[tuple[object, ...]]) -> None:
    lines = ["\t".join(_text(v) for v in row) for row in chunk]
    for table, columns in PER_EVENT_TABLES:
        picks = [EVENT_COLUMNS.index(c) for c in columns]
        if len(picks) == len(EVENT_COLUMNS):
            data = "\n".join(lines) + "\n"
        else:
            data = "".join("\t".join(_text(row[p]) for p in picks) + "\n" for row in chunk)
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(data)


# What makes a ledger row unique lives beside it (one key row per entry, keyed by its id): it is
# written from the rows themselves once they are in.
KEY_TABLES = ("usage_event_keys",)


def _max_event_id(cur: psycopg.Cursor) -> int:
    return int(cur.execute("SELECT coalesce(max(id), 0) FROM usage_events").fetchone()[0])  # type: ignore[index]


def _add_keys(cur: psycopg.Cursor, after_id: int) -> None:
    from adapters.db.ledger_writes import KEY_COLUMNS  # the columns the service writes there

    columns = ", ".join(KEY_COLUMNS)
    cur.execute(
        f"INSERT INTO usage_event_keys (event_id, {columns}) "  # names from the service, not input
        f"SELECT id, {columns} FROM usage_events WHERE id > %s",
        (after_id,),
    )


def _drop_plain_indexes(cur: psycopg.Cursor, tables: Sequence[str]) -> list[str]:
    """Drop the tables' indexes that back no constraint and answer how to build them again: a
    bulk load then builds each once instead of maintaining it row by row (their contents are
    the same). Constraints' indexes stay, so nothing the fill writes can break a rule."""
    found = cur.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (list(tables),),
    ).fetchall()
    for name, _ in found:
        cur.execute(f"DROP INDEX {name}")
    # A partitioned table's index is defined `ON ONLY` the parent: built again without ONLY, it
    # is built on every partition too.
    return [definition.replace(" ON ONLY ", " ON ", 1) for _, definition in found]


def _make_months(dsn: str, month: datetime) -> None:
    """The months the fill writes get their own partitions first (as the scheduled job makes
    them for a live ledger), rather than all landing in the default one."""
    from sqlalchemy import create_engine

    from adapters.db.partitions import ensure_partitions

    engine = create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            ensure_partitions(conn, month, ahead=1, behind=HISTORY_MONTHS + 1)
    finally:
        engine.dispose()


def fill(
    dsn: str,
    rows: int,
    month: datetime,
    billed: Sequence[str] = (),
    until: datetime | None = None,
) -> Filled:
    """Write `rows` ledger rows: twelve invoiced months before `month` for the `billed`
    organizations (which must exist) and for new ones, and `month` itself, unbilled, for the
    new ones, up to `until` when given (now, for a ledger that is being written to)."""
    started = time.perf_counter()
    new, slots = plan(rows, month, billed)
    invoices = [s for s in slots if s.invoice_id is not None]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        created = add_months(month, -HISTORY_MONTHS - 1)
        with cur.copy("COPY organizations (id, created_at) FROM STDIN") as copy:
            for org in new:
                copy.write_row((org, created))
        with cur.copy(
            "COPY usage_invoices (id, org_id, status, period_start, period_end, total_minor, "
            "currency, stripe_invoice_id, created_at, updated_at) FROM STDIN"
        ) as copy:
            for s in invoices:
                end = add_months(s.month, 1)
                words = sum(_quantity(i) for i in range(s.rows))
                issued = end + timedelta(hours=1)
                copy.write_row(
                    (
                        s.invoice_id,
                        s.org,
                        "paid",
                        s.month,
                        end,
                        round(words / 10),
                        "usd",
                        "in_" + str(s.invoice_id),
                        issued,
                        issued,
                    )
                )
        conn.commit()
        _make_months(dsn, month)
        before = _max_event_id(cur)
        rebuild = _drop_plain_indexes(cur, ("usage_events", *KEY_TABLES))
        conn.commit()
        chunk: list[tuple[object, ...]] = []
        for slot in slots:
            for row in rows_of(slot, until):
                chunk.append(row)
                if len(chunk) >= CHUNK_ROWS:
                    _copy_chunk(cur, chunk)
                    conn.commit()
                    chunk = []
        if chunk:
            _copy_chunk(cur, chunk)
        conn.commit()
        _add_keys(cur, before)
        conn.commit()
        for definition in rebuild:
            cur.execute(definition)
        conn.commit()
        conn.autocommit = True
        for table in [
            "organizations",
            "usage_invoices",
            *(t for t, _ in PER_EVENT_TABLES),
            *KEY_TABLES,
        ]:
            conn.execute(f"VACUUM (ANALYZE) {table}")
    return Filled(rows, len(new), len(invoices), time.perf_counter() - started)
