"""Domain objects to JSON-ready dicts for the response schemas: the one place each is shaped."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.model.audit import AuditEntry
from domain.model.customers import StripeCustomer
from domain.model.invoicing import InvoiceLine, UsageInvoice
from domain.model.metering import UsageEvent, UsageTotal
from domain.model.money import Money
from domain.model.payments import CheckoutSession, SubscriptionIntent
from domain.model.plans import Metric, Plan
from domain.model.quotas import QuotaDecision
from domain.model.subscriptions import Subscription, SubscriptionSnapshot
from domain.model.webhooks import InboxEvent
from domain.services.billing_status import BillingStatus
from domain.services.subscriptions import PlanChangePreview


def money(value: Money) -> dict[str, Any]:
    return {
        "amount_minor": value.amount_minor,
        "currency": value.currency,
        "display": value.format(),
    }


def plan(p: Plan) -> dict[str, Any]:
    quotas = {}
    for metric in Metric:
        quota = p.quota(metric)
        quotas[metric.value] = {
            "limit": quota.limit,
            "unlimited": quota.unlimited,
            "kind": "gauge" if metric.is_gauge else "counter",
        }
    return {
        "tier": p.tier.value,
        "name": p.name,
        "aliases": list(p.aliases),
        "price": money(p.price),
        "interval": p.interval.value,
        "quotas": quotas,
        "features": list(p.features),
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


def billing_status(status: BillingStatus) -> dict[str, Any]:
    return {
        "org_id": status.org_id,
        "plan": plan(status.plan),
        "plan_source": status.source.value,
        "status": status.subscription.status.value if status.subscription else "none",
        "subscription": subscription(status.subscription),
        "has_stripe_customer": status.has_stripe_customer,
    }


def subscription_intent(intent: SubscriptionIntent, publishable_key: str | None) -> dict[str, Any]:
    return {
        "subscription": subscription(intent.snapshot),
        "client_secret": intent.client_secret,
        "latest_invoice_id": intent.latest_invoice_id,
        "publishable_key": publishable_key,
    }


def customer(value: StripeCustomer, created: bool) -> dict[str, Any]:
    return {
        "stripe_customer_id": value.stripe_customer_id,
        "email": value.email,
        "name": value.name,
        "created": created,
    }


def checkout_session(session: CheckoutSession) -> dict[str, Any]:
    return {"session_id": session.id, "checkout_url": session.url}


def quota_decision(decision: QuotaDecision) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "metric": decision.metric.value,
        "used": decision.used,
        "limit": decision.limit,
        "remaining": decision.remaining,
        "resets_at": decision.resets_at,
        "duplicate": decision.duplicate,
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


def billed_event(event: UsageEvent) -> dict[str, Any]:
    return {
        "idempotency_key": event.idempotency_key,
        "quantity": event.quantity,
        "occurred_at": event.occurred_at,
        "conversation_id": event.conversation_id,
    }


def usage_total(total: UsageTotal) -> dict[str, Any]:
    return {
        "group": total.group,
        "metric": total.metric.value,
        "quantity": total.quantity,
        "events": total.events,
    }


def invoice_preview(outcome: str, lines: Iterable[InvoiceLine], currency: str) -> dict[str, Any]:
    lines = list(lines)
    total = sum((line.amount for line in lines), Money.zero(currency))
    return {
        "outcome": outcome,
        "total": money(total),
        "lines": [invoice_line(line) for line in lines],
    }


def inbox_event(event: InboxEvent, with_payload: bool = False) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "status": event.status.value,
        "attempts": event.attempts,
        "last_error": event.last_error,
        "received_at": event.received_at,
        "processed_at": event.processed_at,
        "last_attempt_at": event.last_attempt_at,
        "api_version": event.api_version,
        "livemode": event.livemode,
    }
    if with_payload:
        shown["payload"] = event.payload
    return shown


def audit_entry(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "org_id": entry.org_id,
        "actor": entry.actor,
        "action": entry.action,
        "details": entry.details,
    }


def plan_change_preview(preview: PlanChangePreview) -> dict[str, Any]:
    change = preview.change
    return {
        "plan_tier": change.plan.tier.value,
        "plan_name": change.plan.name,
        "upgrade": change.upgrade,
        "proration_behavior": change.proration.value,
        "due_now": money(preview.due_now),
        "prorations": money(preview.preview.prorations),
        "invoice_total": money(preview.preview.invoice_total),
        "proration_date": preview.preview.proration_date,
    }
