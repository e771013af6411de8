"""Translation between table rows and domain objects (no ORM mapping of the domain)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domain.model.checkouts import CheckoutRecord, CheckoutStatus
from domain.model.invoicing import InvoiceLine, InvoiceStatus, UsageInvoice
from domain.model.metering import UsageEvent, UsageSource
from domain.model.money import Money
from domain.model.payments import CheckoutMode
from domain.model.plans import Metric, Tier
from domain.model.purchases import OneTimePurchase, PurchaseStatus
from domain.model.subscriptions import Subscription, SubscriptionStatus
from domain.model.webhooks import InboxEvent, InboxStatus

Row = Mapping[Any, Any]  # SQLAlchemy's RowMapping is keyed by more than str


def subscription(row: Row) -> Subscription:
    values = dict(row)
    values["status"] = SubscriptionStatus(values["status"])
    values["tier"] = Tier(values["tier"]) if values["tier"] else None
    return Subscription(**values)


def subscription_values(sub: Subscription) -> dict[str, Any]:
    values = vars(sub).copy()
    values["status"] = sub.status.value
    values["tier"] = sub.tier.value if sub.tier else None
    return values


def purchase(row: Row) -> OneTimePurchase:
    values = dict(row)
    values["amount"] = Money(values.pop("amount_minor"), values.pop("currency"))
    values["tier"] = Tier(values["tier"])
    values["status"] = PurchaseStatus(values["status"])
    return OneTimePurchase(**values)


def purchase_values(p: OneTimePurchase) -> dict[str, Any]:
    values = vars(p).copy()
    amount = values.pop("amount")
    values.update(
        amount_minor=amount.amount_minor,
        currency=amount.currency,
        tier=p.tier.value,
        status=p.status.value,
    )
    return values


def usage_event(row: Row) -> UsageEvent:
    values = dict(row)
    values["metric"] = Metric(values["metric"])
    values["source"] = UsageSource(values["source"])
    return UsageEvent(**values)


def usage_event_values(event: UsageEvent) -> dict[str, Any]:
    values = vars(event).copy()
    values["metric"] = event.metric.value
    values["source"] = event.source.value
    if values["id"] is None:
        del values["id"]
    return values


def utc(value: datetime) -> datetime:
    """Aggregates (min, max) bypass the column type: SQLite hands them back naive."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def invoice_line(row: Row) -> InvoiceLine:
    return InvoiceLine(
        Metric(row["metric"]),
        row["quantity"],
        Money(row["amount_minor"], row["currency"]),
        row["event_count"],
        row["period_start"],
        row["period_end"],
        row["stripe_invoice_item_id"],
        row["id"],
    )


def invoice_line_values(invoice_id: str, line: InvoiceLine) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "metric": line.metric.value,
        "quantity": line.quantity,
        "amount_minor": line.amount.amount_minor,
        "currency": line.amount.currency,
        "event_count": line.event_count,
        "period_start": line.period_start,
        "period_end": line.period_end,
        "stripe_invoice_item_id": line.stripe_invoice_item_id,
    }


def usage_invoice(row: Row) -> UsageInvoice:
    values = dict(row)
    del values["claim_token"], values["claimed_until"]  # the repository's, not the invoice's
    values["total"] = Money(values.pop("total_minor"), values.pop("currency"))
    values["status"] = InvoiceStatus(values["status"])
    return UsageInvoice(**values)


def usage_invoice_values(invoice: UsageInvoice) -> dict[str, Any]:
    values = vars(invoice).copy()
    values.pop("lines")
    total = values.pop("total")
    values.update(
        total_minor=total.amount_minor, currency=total.currency, status=invoice.status.value
    )
    return values


def inbox_event(row: Row) -> InboxEvent:
    values = dict(row)
    values["status"] = InboxStatus(values["status"])
    return InboxEvent(**values)


def inbox_values(event: InboxEvent) -> dict[str, Any]:
    values = vars(event).copy()
    values["status"] = event.status.value
    return values


def checkout(row: Row) -> CheckoutRecord:
    values = dict(row)
    values.update(
        tier=Tier(values["tier"]),
        mode=CheckoutMode(values["mode"]),
        status=CheckoutStatus(values["status"]),
    )
    return CheckoutRecord(**values)


def checkout_values(record: CheckoutRecord) -> dict[str, Any]:
    values = vars(record).copy()
    values.update(tier=record.tier.value, mode=record.mode.value, status=record.status.value)
    return values
