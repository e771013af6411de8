"""Repositories of usage: usage invoices with their lines, the audit (and the ledger's, from
adapters.db.ledger_repository)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from adapters.db import rows
from adapters.db.ledger_repository import SqlUsageEventRepository
from adapters.db.repositories import _Repository
from adapters.db.tables import (
    billing_audit,
    subscription_history,
    usage_invoice_lines,
    usage_invoices,
)
from domain.model.audit import AuditEntry, SubscriptionChange
from domain.model.invoicing import InvoiceStatus, UsageInvoice

__all__ = ["SqlAuditLog", "SqlUsageEventRepository", "SqlUsageInvoiceRepository"]


class SqlUsageInvoiceRepository(_Repository):
    def _with_lines(self, found: list[UsageInvoice]) -> list[UsageInvoice]:
        if not found:
            return found
        by_id = {invoice.id: invoice for invoice in found}
        stmt = (
            select(usage_invoice_lines)
            .where(usage_invoice_lines.c.invoice_id.in_(list(by_id)))
            .order_by(usage_invoice_lines.c.id)
        )
        for row in self.conn.execute(stmt).mappings():
            by_id[row["invoice_id"]].lines.append(rows.invoice_line(row))
        return found

    def _select(self, *where: Any, limit: int | None = None, offset: int = 0) -> list[UsageInvoice]:
        c = usage_invoices.c
        stmt = select(usage_invoices).where(*where).order_by(c.created_at.desc(), c.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit).offset(offset)
        return self._with_lines([rows.usage_invoice(r) for r in self.conn.execute(stmt).mappings()])

    def get(self, org_id: str, invoice_id: str) -> UsageInvoice | None:
        found = self._select(usage_invoices.c.id == invoice_id, usage_invoices.c.org_id == org_id)
        return found[0] if found else None

    def by_stripe_id(self, stripe_invoice_id: str) -> UsageInvoice | None:
        found = self._select(usage_invoices.c.stripe_invoice_id == stripe_invoice_id)
        return found[0] if found else None

    def _add_lines(self, invoice: UsageInvoice) -> None:
        for line in invoice.lines:
            if line.id is None:
                inserted = self.conn.execute(
                    usage_invoice_lines.insert().values(
                        **rows.invoice_line_values(invoice.id, line)
                    )
                ).inserted_primary_key
                assert inserted is not None
                line.id = int(inserted[0])

    def add(self, invoice: UsageInvoice) -> None:
        self.conn.execute(usage_invoices.insert().values(**rows.usage_invoice_values(invoice)))
        self._add_lines(invoice)

    def save(self, invoice: UsageInvoice, lines: bool = False) -> None:
        self.conn.execute(
            update(usage_invoices)
            .where(usage_invoices.c.id == invoice.id)
            .values(**rows.usage_invoice_values(invoice))
        )
        if not lines:
            return
        for line in invoice.lines:
            if line.id is not None:
                self.conn.execute(
                    update(usage_invoice_lines)
                    .where(usage_invoice_lines.c.id == line.id)
                    .values(stripe_invoice_item_id=line.stripe_invoice_item_id)
                )
        self._add_lines(invoice)

    def claim(self, invoice_id: str, token: str, now: datetime, until: datetime) -> bool:
        c = usage_invoices.c
        stmt = (
            update(usage_invoices)
            .where(
                c.id == invoice_id,
                c.status == InvoiceStatus.DRAFT.value,
                or_(c.claim_token.is_(None), c.claim_token == token, c.claimed_until <= now),
            )
            .values(claim_token=token, claimed_until=until)
        )
        return self.conn.execute(stmt).rowcount == 1

    def release(self, invoice_id: str, token: str) -> None:
        c = usage_invoices.c
        self.conn.execute(
            update(usage_invoices)
            .where(c.id == invoice_id, c.claim_token == token)
            .values(claim_token=None, claimed_until=None)
        )

    def recent(self, org_id: str, limit: int, offset: int = 0) -> list[UsageInvoice]:
        return self._select(usage_invoices.c.org_id == org_id, limit=limit, offset=offset)

    def exists(self, invoice_id: str) -> bool:
        stmt = select(usage_invoices.c.id).where(usage_invoices.c.id == invoice_id)
        return self._one(stmt) is not None

    def unfinalized(self, org_id: str) -> list[UsageInvoice]:
        return self._select(
            usage_invoices.c.org_id == org_id, usage_invoices.c.status == InvoiceStatus.DRAFT.value
        )[::-1]

    def orgs_with_status(self, status: InvoiceStatus) -> list[str]:
        stmt = (
            select(usage_invoices.c.org_id)
            .distinct()
            .where(usage_invoices.c.status == status.value)
        )
        return list(self.conn.execute(stmt).scalars())

    def past_due(self, org_id: str) -> list[UsageInvoice]:
        return self._select(
            usage_invoices.c.org_id == org_id,
            usage_invoices.c.status == InvoiceStatus.PAST_DUE.value,
        )


class SqlAuditLog(_Repository):
    def record(self, entry: AuditEntry) -> None:
        self.conn.execute(
            billing_audit.insert().values(
                org_id=entry.org_id,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                details=entry.details,
            )
        )

    def _entries(self, *where: Any, limit: int) -> list[AuditEntry]:
        c = billing_audit.c
        stmt = select(billing_audit).where(*where).order_by(c.at.desc(), c.id.desc()).limit(limit)
        return [
            AuditEntry(
                r["org_id"], rows.utc(r["at"]), r["actor"], r["action"], dict(r["details"]), r["id"]
            )
            for r in self.conn.execute(stmt).mappings()
        ]

    def for_org(self, org_id: str, limit: int) -> list[AuditEntry]:
        return self._entries(billing_audit.c.org_id == org_id, limit=limit)

    def last(self, org_id: str, action_prefix: str) -> AuditEntry | None:
        found = self._entries(
            billing_audit.c.org_id == org_id,
            billing_audit.c.action.startswith(action_prefix),
            limit=1,
        )
        return found[0] if found else None

    def record_change(self, change: SubscriptionChange) -> None:
        self.conn.execute(subscription_history.insert().values(**vars(change)))

    def orgs_with(self, action: str) -> list[str]:
        stmt = select(billing_audit.c.org_id).distinct().where(billing_audit.c.action == action)
        return list(self.conn.execute(stmt).scalars())
