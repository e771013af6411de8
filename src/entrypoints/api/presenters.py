"""Domain objects to JSON-ready dicts for the schemas."""

from __future__ import annotations

from typing import Any

from domain.model.money import Money
from domain.model.payments import SubscriptionIntent
from domain.model.plans import Metric, Plan
from domain.model.subscriptions import Subscription
from domain.services.billing_status import BillingStatus


def money(value: Money) -> dict[str, Any]:
    return {"amount_minor": value.amount_minor, "currency": value.currency,
            "display": value.format()}


def plan(p: Plan) -> dict[str, Any]:
    quotas = {}
    for metric in Metric:
        quota = p.quota(metric)
        quotas[metric.value] = {"limit": quota.limit, "unlimited": quota.unlimited,
                                "kind": "gauge" if metric.is_gauge else "counter"}
    return {"tier": p.tier.value, "name": p.name, "aliases": list(p.aliases),
            "price": money(p.price), "interval": p.interval.value, "quotas": quotas,
            "features": list(p.features)}


def subscription(sub: Subscription | None) -> dict[str, Any] | None:
    if sub is None:
        return None
    return {"stripe_subscription_id": sub.stripe_subscription_id, "status": sub.status.value,
            "tier": sub.tier.value if sub.tier else None,
            "current_period_start": sub.current_period_start,
            "current_period_end": sub.current_period_end,
            "cancel_at_period_end": sub.cancel_at_period_end}


def billing_status(status: BillingStatus) -> dict[str, Any]:
    return {"org_id": status.org_id, "plan": plan(status.plan), "plan_source": status.source.value,
            "status": status.subscription.status.value if status.subscription else "none",
            "subscription": subscription(status.subscription),
            "has_stripe_customer": status.has_stripe_customer}


def subscription_intent(intent: SubscriptionIntent, publishable_key: str | None) -> dict[str, Any]:
    snap = intent.snapshot
    created = {"stripe_subscription_id": snap.stripe_subscription_id, "status": snap.status.value,
               "tier": snap.tier.value if snap.tier else None,
               "current_period_start": snap.current_period_start,
               "current_period_end": snap.current_period_end,
               "cancel_at_period_end": snap.cancel_at_period_end}
    return {"subscription": created, "client_secret": intent.client_secret,
            "latest_invoice_id": intent.latest_invoice_id, "publishable_key": publishable_key}
