"""Objects as the API presents them: shared by the HTTP presenters and by the messages the
outbox sends the product, so a webhook's `data` is exactly what the API shows."""

from __future__ import annotations

from typing import Any

from domain.model.entitlements import Entitlement
from domain.model.invoicing import InvoiceLine, UsageInvoice
from domain.model.money import Money
from domain.model.payments import InvoiceSnapshot
from domain.model.subscriptions import Subscription, SubscriptionSnapshot


def money(value: Money) -> dict[str, Any]:
    return {
        "amount_minor": value.amount_minor,
        "currency": value.currency,
        "display": value.format(),
    }


def subscription(sub: Subscription | SubscriptionSnapshot | None) -> dict[str, Any] | None:
    if sub is None:
        return None
    return {
        "stripe_subscription_id": sub.stripe_subscription_id,
        "status": sub.status.value,
        "tier": sub.tier.value if sub.tier else None,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "cancel_at_period_end": sub.cancel_at_period_end,
    }


def invoice_line(line: InvoiceLine) -> dict[str, Any]:
    return {
        "metric": line.metric.value,
        "quantity": line.quantity,
        "amount": money(line.amount),
        "event_count": line.event_count,
        "period_start": line.period_start,
        "period_end": line.period_end,
        "description": line.description,
    }


def invoice(value: UsageInvoice) -> dict[str, Any]:
    return {
        "id": value.id,
        "status": value.status.value,
        "total": money(value.total),
        "period_start": value.period_start,
        "period_end": value.period_end,
        "stripe_invoice_id": value.stripe_invoice_id,
        "hosted_invoice_url": value.hosted_invoice_url,
        "hold_reason": value.hold_reason,
        "created_at": value.created_at,
        "lines": [invoice_line(line) for line in value.lines],
    }


def stripe_invoice(value: InvoiceSnapshot) -> dict[str, Any]:
    """A Stripe invoice we do not keep (a subscription's): what Stripe says of it."""
    return {
        "stripe_invoice_id": value.id,
        "status": value.status,
        "subscription_id": value.subscription_id,
        "amount_due": money(value.amount_due),
        "amount_paid": money(value.amount_paid),
        "hosted_invoice_url": value.hosted_invoice_url,
        "attempt_count": value.attempt_count,
    }


def entitlement(org_id: str, value: Entitlement) -> dict[str, Any]:
    """The plan the organization is entitled to, as the billing status shows it."""
    return {
        "org_id": org_id,
        "tier": value.plan.tier.value,
        "plan_source": value.source.value,
        "subscription": subscription(value.subscription),
    }
