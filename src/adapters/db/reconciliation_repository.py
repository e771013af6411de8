"""Reconciliation runs and drift rows, and the bulk reads of our books a run compares."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from adapters.db import rows
from adapters.db.tables import (
    checkout_sessions,
    one_time_purchases,
    reconciliation_drifts,
    reconciliation_runs,
    stripe_customers,
    subscriptions,
    usage_invoice_lines,
    usage_invoices,
    webhook_events,
)
from domain.model.customers import StripeCustomer
from domain.model.reconciliation import (
    Drift,
    DriftAction,
    DriftKind,
    LocalBooks,
    ObjectType,
    ReconciliationRun,
    Repair,
    RunCounts,
    RunStatus,
)

_CHUNK = 500  # drift rows per INSERT, keys per IN list


def run_of(row: Any) -> ReconciliationRun:
    values = dict(row)
    values["status"] = RunStatus(values["status"])
    values["counts"] = RunCounts(**values["counts"])
    return ReconciliationRun(**values)


def drift_values(drift: Drift) -> dict[str, Any]:
    return {
        "run_id": drift.run_id,
        "key": drift.key,
        "org_id": drift.org_id,
        "object_type": drift.object_type.value,
        "object_id": drift.object_id,
        "kind": drift.kind.value,
        "ours": drift.ours,
        "theirs": drift.theirs,
        "repair_event": drift.repair.event_type if drift.repair else None,
        "repair_object": drift.repair.object_id if drift.repair else None,
        "action": drift.action.value,
        "note": drift.note,
        "first_seen_at": drift.first_seen_at,
        "new": drift.new,
    }


def drift_of(row: Any) -> Drift:
    repair = Repair(row["repair_event"], row["repair_object"]) if row["repair_event"] else None
    return Drift(
        row["org_id"],
        ObjectType(row["object_type"]),
        row["object_id"],
        DriftKind(row["kind"]),
        row["ours"],
        row["theirs"],
        repair,
        DriftAction(row["action"]),
        row["first_seen_at"],
        row["run_id"],
        row["note"],
        row["new"],
    )


class SqlReconciliationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_run(self, run: ReconciliationRun) -> None:
        self.conn.execute(reconciliation_runs.insert().values(**run.plain()))

    def save_run(self, run: ReconciliationRun) -> None:
        self.conn.execute(
            update(reconciliation_runs)
            .where(reconciliation_runs.c.id == run.id)
            .values(**run.plain())
        )

    def get_run(self, run_id: str) -> ReconciliationRun | None:
        stmt = select(reconciliation_runs).where(reconciliation_runs.c.id == run_id)
        row = self.conn.execute(stmt).mappings().first()
        return run_of(row) if row else None

    def latest_run(self, *, finished: bool = False) -> ReconciliationRun | None:
        c = reconciliation_runs.c
        stmt = select(reconciliation_runs).order_by(c.created_at.desc(), c.id.desc()).limit(1)
        if finished:
            stmt = stmt.where(c.status == RunStatus.FINISHED.value)
        row = self.conn.execute(stmt).mappings().first()
        return run_of(row) if row else None

    def add_drifts(self, drifts: Sequence[Drift]) -> None:
        values = [drift_values(d) for d in drifts]
        for start in range(0, len(values), _CHUNK):
            self.conn.execute(reconciliation_drifts.insert(), values[start : start + _CHUNK])

    def drifts_of(self, run_id: str, limit: int, offset: int = 0) -> list[Drift]:
        c = reconciliation_drifts.c
        stmt = (
            select(reconciliation_drifts)
            .where(c.run_id == run_id)
            .order_by(c.org_id.asc().nulls_first(), c.object_type, c.object_id, c.kind)
            .limit(limit)
            .offset(offset)
        )
        return [drift_of(r) for r in self.conn.execute(stmt).mappings()]

    def last_seen(self, keys: Sequence[str]) -> dict[str, Drift]:
        d, r = reconciliation_drifts.c, reconciliation_runs.c
        found: dict[str, tuple[datetime, Drift]] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), _CHUNK):
            stmt = (
                select(reconciliation_drifts, r.created_at.label("run_created_at"))
                .join(reconciliation_runs, r.id == d.run_id)
                .where(d.key.in_(unique[start : start + _CHUNK]))
            )
            for row in self.conn.execute(stmt).mappings():
                seen = found.get(row["key"])
                if seen is None or row["run_created_at"] > seen[0]:
                    found[row["key"]] = (row["run_created_at"], drift_of(row))
        return {key: drift for key, (_, drift) in found.items()}

    def books(self, org_id: str | None) -> LocalBooks:
        def rows_of(table: Any) -> Any:
            stmt = select(table)
            if org_id is not None:
                stmt = stmt.where(table.c.org_id == org_id)
            return self.conn.execute(stmt).mappings()

        sent = select(usage_invoices).where(usage_invoices.c.stripe_invoice_id.is_not(None))
        if org_id is not None:
            sent = sent.where(usage_invoices.c.org_id == org_id)
        invoices = {r["id"]: rows.usage_invoice(r) for r in self.conn.execute(sent).mappings()}
        lines = (
            select(usage_invoice_lines)
            .join(usage_invoices, usage_invoices.c.id == usage_invoice_lines.c.invoice_id)
            .where(usage_invoices.c.stripe_invoice_id.is_not(None))
            .order_by(usage_invoice_lines.c.id)
        )
        if org_id is not None:
            lines = lines.where(usage_invoices.c.org_id == org_id)
        for row in self.conn.execute(lines).mappings():
            invoices[row["invoice_id"]].lines.append(rows.invoice_line(row))
        return LocalBooks(
            customers=[StripeCustomer(**r) for r in rows_of(stripe_customers)],
            subscriptions=[rows.subscription(r) for r in rows_of(subscriptions)],
            invoices=list(invoices.values()),
            purchases=[rows.purchase(r) for r in rows_of(one_time_purchases)],
            checkouts=[rows.checkout(r) for r in rows_of(checkout_sessions)],
        )

    def newest_event_at(self) -> datetime | None:
        newest: datetime | None = self.conn.execute(
            select(func.max(webhook_events.c.stripe_created_at))
        ).scalar()
        return newest

    def known_events(self, event_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        unique = sorted(set(event_ids))
        for start in range(0, len(unique), _CHUNK):
            stmt = select(webhook_events.c.id).where(
                webhook_events.c.id.in_(unique[start : start + _CHUNK])
            )
            found.update(self.conn.execute(stmt).scalars())
        return found

    def other_api_version_events(self, since: datetime, pinned: str) -> int:
        c = webhook_events.c
        stmt = (
            select(func.count())
            .select_from(webhook_events)
            .where(c.received_at >= since, c.api_version.is_not(None), c.api_version != pinned)
        )
        return int(self.conn.execute(stmt).scalar_one())
