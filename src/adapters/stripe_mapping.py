"""Stripe objects (or their JSON) to domain values, with the pinned API version's field paths.

Works on stripe-python's StripeObject and on plain decoded JSON alike (both are mappings), so the
webhook worker and the tests read Stripe's shapes with the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domain.model.money import Money
from domain.model.payments import (
    CheckoutSession,
    InvoiceSnapshot,
    PriceInfo,
    ProrationPreview,
    SubscriptionIntent,
)
from domain.model.plans import Interval
from domain.model.subscriptions import SubscriptionSnapshot, SubscriptionStatus

Obj = Mapping[str, Any]


def timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def object_id(value: Any) -> str | None:
    """An id from a field that is either an id or an expanded object."""
    if value is None or isinstance(value, str):
        return value
    found: str | None = value.get("id")
    return found


def first_item(sub: Obj) -> Obj:
    items = sub["items"]["data"]
    if not items:
        raise ValueError(f"subscription {sub.get('id')} has no items")
    item: Obj = items[0]
    return item


def subscription_snapshot(sub: Obj) -> SubscriptionSnapshot:
    item = first_item(sub)
    price = item.get("price") or {}
    metadata = sub.get("metadata") or {}
    # Since API version 2025-03-31 the billing period is on each subscription item.
    return SubscriptionSnapshot(
        stripe_subscription_id=sub["id"],
        stripe_customer_id=object_id(sub["customer"]) or "",
        status=SubscriptionStatus(sub["status"]),
        tier=None,
        stripe_price_id=price.get("id"),
        current_period_start=timestamp(item.get("current_period_start")),
        current_period_end=timestamp(item.get("current_period_end")),
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        canceled_at=timestamp(sub.get("canceled_at")),
        org_id=metadata.get("org_id"),
        price_lookup_key=price.get("lookup_key"),
        plan_tier_hint=metadata.get("plan_tier"),
        started_at=timestamp(sub.get("start_date")),
    )


def subscription_intent(sub: Obj) -> SubscriptionIntent:
    invoice = sub.get("latest_invoice")
    client_secret = None
    invoice_id = None
    if isinstance(invoice, Mapping):
        invoice_id = invoice.get("id")
        secret = invoice.get("confirmation_secret")  # replaces invoice.payment_intent
        client_secret = secret.get("client_secret") if secret else None
    elif isinstance(invoice, str):
        invoice_id = invoice
    return SubscriptionIntent(subscription_snapshot(sub), client_secret, invoice_id)


def checkout_session(session: Obj) -> CheckoutSession:
    return CheckoutSession(
        id=session["id"],
        url=session.get("url"),
        mode=session.get("mode") or "subscription",
        status=session.get("status") or "open",
        payment_status=session.get("payment_status"),
        customer_id=object_id(session.get("customer")),
        subscription_id=object_id(session.get("subscription")),
        payment_intent_id=object_id(session.get("payment_intent")),
        client_reference_id=session.get("client_reference_id"),
        metadata=dict(session.get("metadata") or {}),
    )


def price_info(price: Obj) -> PriceInfo:
    recurring = price.get("recurring")
    interval = (
        Interval.MONTH if recurring and recurring.get("interval") == "month" else Interval.ONE_TIME
    )
    return PriceInfo(
        id=price["id"],
        lookup_key=price.get("lookup_key"),
        product_id=object_id(price.get("product")) or "",
        unit_amount=Money(int(price.get("unit_amount") or 0), price["currency"]),
        interval=interval,
        active=bool(price.get("active", True)),
    )


def invoice_snapshot(invoice: Obj) -> InvoiceSnapshot:
    # Since API version 2025-03-31 an invoice's subscription is under parent.subscription_details.
    parent = invoice.get("parent") or {}
    details = (
        parent.get("subscription_details") if parent.get("type") == "subscription_details" else None
    )
    currency = invoice.get("currency") or "usd"
    return InvoiceSnapshot(
        id=invoice["id"],
        customer_id=object_id(invoice.get("customer")),
        subscription_id=object_id(details.get("subscription")) if details else None,
        status=invoice.get("status"),
        amount_due=Money(int(invoice.get("amount_due") or 0), currency),
        amount_paid=Money(int(invoice.get("amount_paid") or 0), currency),
        hosted_invoice_url=invoice.get("hosted_invoice_url"),
        attempt_count=int(invoice.get("attempt_count") or 0),
    )


def proration_preview(invoice: Obj, proration_date: int) -> ProrationPreview:
    """Stripe's advice: the prorations are the lines whose
    parent.subscription_item_details.proration is true."""
    currency = invoice.get("currency") or "usd"
    prorations = 0
    for line in (invoice.get("lines") or {}).get("data") or []:
        details = (line.get("parent") or {}).get("subscription_item_details") or {}
        if details.get("proration"):
            prorations += int(line.get("amount") or 0)
    return ProrationPreview(
        prorations=Money(prorations, currency),
        invoice_total=Money(int(invoice.get("amount_due") or 0), currency),
        proration_date=proration_date,
    )
