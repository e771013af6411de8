"""Usage invoices: the unbilled usage of one organization, billed once on Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.model.money import Money


class InvoiceStatus(StrEnum):
    DRAFT = "draft"  # created locally, usage assigned; Stripe invoice not yet finalized
    OPEN = "open"
    PAID = "paid"
    PAST_DUE = "past_due"
    UNCOLLECTIBLE = "uncollectible"
    VOID = "void"


@dataclass
class UsageInvoice:
    id: str
    org_id: str
    status: InvoiceStatus
    period_start: datetime
    period_end: datetime
    total: Money
    created_at: datetime
    updated_at: datetime
    stripe_invoice_id: str | None = None
    hosted_invoice_url: str | None = None

    def link_stripe(self, stripe_invoice_id: str, hosted_url: str | None, now: datetime) -> None:
        self.stripe_invoice_id = stripe_invoice_id
        self.hosted_invoice_url = hosted_url or self.hosted_invoice_url
        self.updated_at = now

    def set_status(self, status: InvoiceStatus, now: datetime) -> bool:
        if status is self.status:
            return False
        self.status = status
        self.updated_at = now
        return True
