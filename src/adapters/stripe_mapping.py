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
    CustomerInfo,
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


def billing_period_item(sub: Obj) -> Obj:
    """The item whose period is the subscription's current one. Since API version 2025-03-31
    the period is on each item, and items may renew on different dates (a yearly add-on beside
    the monthly plan): the next one to renew, the first of those in the list on a tie."""
    items = sub["items"]["data"]
    if not items:
        raise ValueError(f"subscription {sub.get('id')} has no items")
    ends = [int(i.get("current_period_end") or 0) for i in items]
    if all(end == 0 for end in ends):
        return first_item(sub)
    chosen: Obj = min(
        (i for i, end in zip(items, ends, strict=True) if end),
        key=lambda i: int(i["current_period_end"]),
    )
    return chosen


def subscription_snapshot(sub: Obj) -> SubscriptionSnapshot:
    # The plan is the first item's price (the one we create); the period, the next renewal's.
    price = first_item(sub).get("price") or {}
    item = billing_period_item(sub)
    metadata = sub.get("metadata") or {}
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


def customer_info(customer: Obj) -> CustomerInfo:
    metadata = customer.get("metadata") or {}
    return CustomerInfo(
        id=customer["id"],
        org_id=metadata.get("org_id"),
        email=customer.get("email"),
        name=customer.get("name"),
    )


def _lines(invoice: Obj, currency: str) -> tuple[int | None, Money | None]:
    """The invoice's line count and sum, when the embedded list holds every line."""
    lines = invoice.get("lines")
    if not isinstance(lines, Mapping) or lines.get("has_more"):
        return None, None
    data = lines.get("data") or []
    return len(data), Money(sum(int(line.get("amount") or 0) for line in data), currency)


def invoice_snapshot(invoice: Obj) -> InvoiceSnapshot:
    # Since API version 2025-03-31 an invoice's subscription is under parent.subscription_details
    # and `parent.type` says which kind of parent it has: we branch on it, never on field presence.
    parent = invoice.get("parent") or {}
    parent_type = parent.get("type")
    details = parent.get("subscription_details") if parent_type == "subscription_details" else None
    currency = invoice.get("currency") or "usd"
    line_count, lines_total = _lines(invoice, currency)
    total = invoice.get("total")
    return InvoiceSnapshot(
        id=invoice["id"],
        customer_id=object_id(invoice.get("customer")),
        subscription_id=object_id(details.get("subscription")) if details else None,
        status=invoice.get("status"),
        amount_due=Money(int(invoice.get("amount_due") or 0), currency),
        amount_paid=Money(int(invoice.get("amount_paid") or 0), currency),
        hosted_invoice_url=invoice.get("hosted_invoice_url"),
        attempt_count=int(invoice.get("attempt_count") or 0),
        parent_type=parent_type,
        total=Money(int(total), currency) if total is not None else None,
        line_count=line_count,
        lines_total=lines_total,
        metadata=dict(invoice.get("metadata") or {}),
        created=timestamp(invoice.get("created")),
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
