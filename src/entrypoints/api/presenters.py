"""Domain objects to JSON-ready dicts for the response schemas: the one place each is shaped."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.model import views
from domain.model.audit import AuditEntry
from domain.model.customers import StripeCustomer
from domain.model.invoicing import InvoiceLine
from domain.model.metering import UsageEvent, UsageTotal
from domain.model.money import Money
from domain.model.payments import CheckoutSession, SubscriptionIntent
from domain.model.plans import Metric, Plan
from domain.model.quotas import QuotaDecision
from domain.model.webhook_endpoints import WebhookEndpoint
from domain.model.webhooks import InboxEvent
from domain.services.alerts import SpendCapView
from domain.services.billing_status import BillingStatus
from domain.services.subscriptions import PlanChangePreview
from domain.services.webhook_endpoints import DeliveryView

# Shaped in the domain: the webhooks to the product carry the same views.
money = views.money
subscription = views.subscription
invoice_line = views.invoice_line
invoice = views.invoice


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


def spend_cap(view: SpendCapView) -> dict[str, Any]:
    return {
        "cap": money(view.cap) if view.cap else None,
        "spent": money(view.spent),
        "spent_words": view.spent_words,
        "resets_at": view.resets_at,
        "reached_at": view.reached_at,
    }


def webhook_endpoint(endpoint: WebhookEndpoint, with_secret: bool = False) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_valid_until": endpoint.previous_secret_until,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }
    if with_secret:  # at creation and rotation only: the one time the owner sees it
        shown["secret"] = endpoint.secret
    return shown


def webhook_delivery(view: DeliveryView) -> dict[str, Any]:
    d = view.delivery
    return {
        "id": d.id,
        "message_id": d.message_id,
        "event_type": d.event_type,
        "status": d.status.value,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at,
        "created_at": d.created_at,
        "attempt_log": [
            {
                "number": a.number,
                "attempted_at": a.attempted_at,
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
                "response_snippet": a.response_snippet,
            }
            for a in view.attempts
        ],
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
