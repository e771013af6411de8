"""The usage ledger's repository (see adapters.db.ledger_writes for how entries are stored
once, and adapters.db.partitions for its months on Postgres)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.db import rows
from adapters.db.ledger_writes import Identity, store_new_usage
from adapters.db.partitions import add_months, month_start
from adapters.db.repositories import _Repository
from adapters.db.tables import (
    usage_archived_totals,
    usage_archives,
    usage_event_keys,
    usage_events,
    usage_invoices,
    usage_late_months,
)
from domain.model.invoicing import BILLED_METRICS
from domain.model.metering import LinkedTotal, UsageEvent, UsageTotal
from domain.model.plans import Metric

# Usage of a month that closes within this margin of its arrival counts as late.
LATE_MARGIN = timedelta(hours=1)


class SqlUsageEventRepository(_Repository):
    """The ledger. Invoicing reads the months from the organization's last cutoff on, plus the
    months marked as holding late usage (`usage_late_months`), so that on Postgres its
    statements carry occurred_at bounds the planner prunes partitions with."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._linked: dict[str, Any] = {}  # invoice id -> the bounds it was linked within

    def add_if_absent(self, events: Sequence[UsageEvent]) -> list[UsageEvent]:
        ordered = sorted(events, key=lambda e: e.lock_order)
        stored = store_new_usage(self.conn, [rows.usage_event_values(e) for e in ordered])
        # The first of the batch's entries with each stored identity is the one stored.
        first: dict[Identity, UsageEvent] = {}
        for event in ordered:
            first.setdefault(
                (event.org_id, event.metric.value, event.idempotency_key, event.entry_id), event
            )
        kept = [first[found] for found in stored]
        self._mark_late(kept)
        return kept

    def _mark_late(self, stored: Sequence[UsageEvent]) -> None:
        """Billable usage that arrived after its month had closed (or was about to: an hour's
        margin covers clocks and transactions in flight), or that is older than the
        organization's last invoice cutoff, marks its month, so that an invoice whose range
        starts later still reads it. The update locks the mark's row: an invoice taking the
        mark away waits for this transaction, then sees its entries."""
        billed = [e for e in stored if e.metric in BILLED_METRICS]
        if not billed:
            return
        i = usage_invoices.c
        last_cutoff = {
            org: rows.utc(cutoff)
            for org, cutoff in self.conn.execute(
                select(i.org_id, func.max(i.period_end))
                .where(i.org_id.in_(sorted({e.org_id for e in billed})))
                .group_by(i.org_id)
            )
        }
        late: dict[tuple[str, datetime], int] = {}
        for event in billed:
            month = month_start(event.occurred_at)
            cutoff = last_cutoff.get(event.org_id)
            if month < month_start(event.received_at + LATE_MARGIN) or (
                cutoff is not None and event.occurred_at < cutoff
            ):
                late[(event.org_id, month)] = late.get((event.org_id, month), 0) + 1
        if not late:
            return
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(usage_late_months)
        stmt = stmt.on_conflict_do_update(
            index_elements=["org_id", "month"],
            set_={"events": usage_late_months.c.events + stmt.excluded.events},
        )
        values = [{"org_id": o, "month": m, "events": n} for (o, m), n in sorted(late.items())]
        for value in values:  # one by one, in order: two writers never deadlock on marks
            self.conn.execute(stmt, value)

    def stored_entry_ids(self, entry_ids: Sequence[str]) -> set[str]:
        c = usage_event_keys.c
        stmt = select(c.entry_id).where(c.entry_id.in_(list(entry_ids)))
        return {str(found) for found in self.conn.execute(stmt).scalars()}

    def total(
        self, org_id: str, metric: Metric, since: datetime | None, until: datetime | None
    ) -> int:
        c, a = usage_events.c, usage_archived_totals.c
        stmt = select(func.coalesce(func.sum(c.quantity), 0)).where(
            c.org_id == org_id, c.metric == metric.value
        )
        archived = select(func.coalesce(func.sum(a.quantity), 0)).where(
            a.org_id == org_id, a.metric == metric.value
        )
        if since is not None:
            stmt = stmt.where(c.occurred_at >= since)
            archived = archived.where(a.month >= month_start(since))
        if until is not None:
            stmt = stmt.where(c.occurred_at < until)
            archived = archived.where(a.month < until)
        # Archived months count as their totals (a gauge counts every entry it ever had).
        return int(self.conn.execute(stmt).scalar_one()) + int(
            self.conn.execute(archived).scalar_one()
        )

    def _since_last_cutoff(self, org_id: str, exclude: str | None) -> datetime | None:
        i = usage_invoices.c
        stmt = select(func.max(i.period_end)).where(i.org_id == org_id)
        if exclude is not None:
            stmt = stmt.where(i.id != exclude)
        last = self.conn.execute(stmt).scalar()
        return None if last is None else month_start(rows.utc(last))

    def _bounds(
        self, org_id: str, cutoff: datetime, marked: Sequence[datetime], exclude: str | None
    ) -> Any:
        """Every unbilled entry before the cutoff lies in a month from the last cutoff's on, or
        in a marked month (see `_mark_late`): the ranges the statements read."""
        c = usage_events.c
        lower = self._since_last_cutoff(org_id, exclude)
        if lower is None:  # never invoiced: every month before the cutoff
            return c.occurred_at < cutoff
        ranges = [and_(c.occurred_at >= lower, c.occurred_at < cutoff)]
        for month in sorted(set(marked)):
            if month < lower:
                end = min(add_months(month, 1), cutoff)
                ranges.append(and_(c.occurred_at >= month, c.occurred_at < end))
        return or_(*ranges) if len(ranges) > 1 else ranges[0]

    def _marked(self, org_id: str, cutoff: datetime) -> list[datetime]:
        m = usage_late_months.c
        stmt = select(m.month).where(m.org_id == org_id, m.month < cutoff)
        return [rows.utc(found) for found in self.conn.execute(stmt).scalars()]

    def _unbilled(
        self, org_id: str, cutoff: datetime, metrics: Sequence[Metric], bounds: Any
    ) -> Any:
        c = usage_events.c
        return (
            c.org_id == org_id,
            c.invoice_id.is_(None),
            bounds,
            c.occurred_at < cutoff,
            c.metric.in_([m.value for m in metrics]),
        )

    def _totals(self, *where: Any) -> list[LinkedTotal]:
        c = usage_events.c
        stmt = (
            select(
                c.metric,
                func.sum(c.quantity),
                func.count(),
                func.min(c.occurred_at),
                func.max(c.occurred_at),
            )
            .where(*where)
            .group_by(c.metric)
        )
        return [
            LinkedTotal(Metric(m), int(q), int(n), rows.utc(lo), rows.utc(hi))
            for m, q, n, lo, hi in self.conn.execute(stmt)
        ]

    def unbilled_totals(
        self, org_id: str, cutoff: datetime, metrics: Sequence[Metric]
    ) -> list[LinkedTotal]:
        bounds = self._bounds(org_id, cutoff, self._marked(org_id, cutoff), None)
        return self._totals(*self._unbilled(org_id, cutoff, metrics, bounds))

    def link_unbilled(
        self, org_id: str, cutoff: datetime, metrics: Sequence[Metric], invoice_id: str
    ) -> int:
        # The marks of months wholly before the cutoff are taken first: a writer holding one
        # (see _mark_late) has committed before this delete returns, so the update below
        # sees its entries; a mark written after the delete survives for the next invoice.
        m = usage_late_months.c
        taken = self.conn.execute(
            delete(usage_late_months)
            .where(m.org_id == org_id, m.month < month_start(cutoff))
            .returning(m.month)
        ).scalars()
        marked = [rows.utc(month) for month in taken] + self._marked(org_id, cutoff)
        bounds = self._bounds(org_id, cutoff, marked, invoice_id)
        self._linked[invoice_id] = bounds
        stmt = (
            update(usage_events)
            .where(*self._unbilled(org_id, cutoff, metrics, bounds))
            .values(invoice_id=invoice_id)
        )
        return self.conn.execute(stmt).rowcount

    def linked_totals(self, invoice_id: str) -> list[LinkedTotal]:
        # Right after linking, within the bounds it linked in (one month's partition).
        bounds = self._linked.get(invoice_id, true())
        return self._totals(usage_events.c.invoice_id == invoice_id, bounds)

    def archived_months(self, start: datetime, end: datetime) -> list[datetime]:
        a = usage_archives.c
        stmt = select(a.month).where(a.month >= month_start(start), a.month < end).order_by(a.month)
        return [rows.utc(month) for month in self.conn.execute(stmt).scalars()]

    def orgs_with_unbilled(self, cutoff: datetime, metrics: Sequence[Metric]) -> list[str]:
        # Every month before the cutoff, each partition's index of unbilled entries only
        # (nearly empty once a month is invoiced).
        c = usage_events.c
        stmt = (
            select(c.org_id)
            .distinct()
            .where(
                c.invoice_id.is_(None),
                c.occurred_at < cutoff,
                c.metric.in_([m.value for m in metrics]),
            )
            .order_by(c.org_id)
        )
        return list(self.conn.execute(stmt).scalars())

    def billed_by(
        self, invoice_id: str, metric: Metric | None, limit: int, offset: int
    ) -> list[UsageEvent]:
        c = usage_events.c
        stmt = select(usage_events).where(c.invoice_id == invoice_id)
        if metric is not None:
            stmt = stmt.where(c.metric == metric.value)
        stmt = stmt.order_by(c.occurred_at, c.id).limit(limit).offset(offset)
        return [rows.usage_event(r) for r in self.conn.execute(stmt).mappings()]

    def summary(
        self, org_id: str, since: datetime, until: datetime, group_by: str
    ) -> list[UsageTotal]:
        c = usage_events.c
        if group_by == "day":
            group = (
                func.to_char(func.timezone("UTC", c.occurred_at), "YYYY-MM-DD")
                if self.conn.dialect.name == "postgresql"
                else func.strftime("%Y-%m-%d", c.occurred_at)
            )
        elif group_by == "conversation":
            group = func.coalesce(c.conversation_id, "")
        else:
            group = func.coalesce(c.metric, "")  # a column as an expression of the same type
        stmt = (
            select(group.label("grp"), c.metric, func.sum(c.quantity), func.count())
            .where(c.org_id == org_id, c.occurred_at >= since, c.occurred_at < until)
            .group_by(group, c.metric)
            .order_by(group, c.metric)
        )
        return [
            UsageTotal(str(g), Metric(m), int(q), int(n)) for g, m, q, n in self.conn.execute(stmt)
        ]
