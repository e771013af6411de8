"""One handler per Stripe event type. Each runs inside the event's transaction and reads only
ids from the payload: the current object is fetched from Stripe, so a stale or reordered
delivery cannot roll our state back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.errors import InvalidOrganization
from domain.model.audit import AuditEntry
from domain.model.customers import StripeCustomer
from domain.model.invoicing import InvoiceStatus
from domain.model.organizations import Organization, validate_org_id
from domain.model.payments import CheckoutMode
from domain.ports import UnitOfWork
from domain.services import announcements
from domain.services.audit import record_billing_change
from domain.services.payment_deps import PaymentDeps
from domain.services.subscriptions import apply_snapshot


class EventParked(Exception):
    """The event cannot be applied (yet): kept with its reason for an operator, never dropped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _valid_org(org_id: object) -> str | None:
    try:
        return validate_org_id(org_id)
    except InvalidOrganization:
        return None


def _ensure_org(uow: UnitOfWork, org_id: str, now: datetime) -> None:
    uow.organizations.add_if_absent(Organization.new(org_id, now))


def _link_customer(uow: UnitOfWork, org_id: str, customer_id: str, now: datetime) -> None:
    uow.customers.add_if_absent(StripeCustomer(org_id, customer_id, None, None, now))


def _owner(
    uow: UnitOfWork, subscription_id: str, metadata_org: str | None, customer_id: str | None
) -> str | None:
    """Who a subscription belongs to: our record, its metadata, or its customer's organization."""
    known = uow.subscriptions.get(subscription_id)
    if known is not None:
        return known.org_id
    if (org_id := _valid_org(metadata_org)) is not None:
        return org_id
    customer = uow.customers.by_stripe_id(customer_id) if customer_id else None
    return customer.org_id if customer else None


def _sync_subscription(
    deps: PaymentDeps, uow: UnitOfWork, subscription_id: str, org_hint: str | None = None
) -> str:
    uow.lock(f"subscription:{subscription_id}")
    snapshot = deps.require_gateway().retrieve_subscription(subscription_id)
    org_id = org_hint or _owner(uow, subscription_id, snapshot.org_id, snapshot.stripe_customer_id)
    if org_id is None:
        raise EventParked(
            f"unknown customer {snapshot.stripe_customer_id}: no organization owns "
            f"subscription {subscription_id}"
        )
    now = deps.clock.now()
    _ensure_org(uow, org_id, now)
    apply_snapshot(uow, deps.prices, org_id, snapshot, now, deps.actor, deps.grace)
    return org_id


def checkout_completed(deps: PaymentDeps, uow: UnitOfWork, obj: dict[str, Any]) -> str | None:
    session = deps.require_gateway().retrieve_checkout_session(str(obj["id"]))
    org_id = _valid_org(session.client_reference_id or session.metadata.get("org_id"))
    if org_id is None:
        raise EventParked(f"checkout session {session.id} names no valid organization")
    if session.subscription_id:
        # The subscription's lock before any write, as its own events take it: the other order
        # deadlocks with a subscription event applied at the same time.
        uow.lock(f"subscription:{session.subscription_id}")
    now = deps.clock.now()
    _ensure_org(uow, org_id, now)
    if session.customer_id:
        _link_customer(uow, org_id, session.customer_id, now)
    record = uow.checkouts.by_stripe_id(session.id)
    if record is not None and record.complete(now):
        uow.checkouts.save(record)
    if session.mode == CheckoutMode.SUBSCRIPTION.value:
        if not session.subscription_id:
            raise EventParked(f"checkout session {session.id} completed without a subscription")
        return _sync_subscription(deps, uow, session.subscription_id, org_id)
    purchase = uow.purchases.by_checkout_session(session.id)
    if purchase is None:
        raise EventParked(f"no purchase was recorded for checkout session {session.id}")
    watch = announcements.EntitlementWatch(uow, deps.catalog, org_id, now, deps.grace)
    if session.paid and purchase.mark_paid(session.payment_intent_id, now):
        uow.purchases.save(purchase)
        watch.announce_if_changed(deps.actor)
        record_billing_change(
            uow,
            AuditEntry(
                org_id,
                now,
                deps.actor,
                "purchase.paid",
                {
                    "purchase_id": purchase.id,
                    "tier": purchase.tier.value,
                    "amount_minor": purchase.amount.amount_minor,
                },
            ),
        )
    return org_id


def checkout_expired(deps: PaymentDeps, uow: UnitOfWork, obj: dict[str, Any]) -> str | None:
    record = uow.checkouts.by_stripe_id(str(obj["id"]))
    if record is not None and record.expire(deps.clock.now()):
        uow.checkouts.save(record)
    return None


def subscription_changed(deps: PaymentDeps, uow: UnitOfWork, obj: dict[str, Any]) -> str | None:
    return _sync_subscription(deps, uow, str(obj["id"]))


def _invoice_event(
    deps: PaymentDeps, uow: UnitOfWork, obj: dict[str, Any], usage_status: InvoiceStatus | None
) -> str | None:
    """`usage_status`: what the occasion makes an unpaid usage invoice (None: it keeps its
    state unless Stripe says paid or void)."""
    invoice = deps.require_gateway().retrieve_invoice(str(obj["id"]))
    now = deps.clock.now()
    usage = uow.usage_invoices.by_stripe_id(invoice.id)
    if usage is not None:
        usage.link_stripe(invoice.id, invoice.hosted_invoice_url, now)
        before = usage.status
        if usage.follow_stripe(invoice.status, usage_status or before, now):
            record_billing_change(
                uow,
                AuditEntry(
                    usage.org_id,
                    now,
                    deps.actor,
                    "usage_invoice.status_changed",
                    {"invoice_id": usage.id, "from": before.value, "to": usage.status.value},
                ),
            )
        uow.usage_invoices.save(usage)
    paid = usage_status is InvoiceStatus.PAID
    # The invoice's parent says what it bills (API version 2025-03-31 and later).
    if invoice.parent_type == "subscription_details" and invoice.subscription_id:
        org_id = _sync_subscription(deps, uow, invoice.subscription_id)
    elif usage is not None:
        org_id = usage.org_id
    else:
        known = uow.customers.by_stripe_id(invoice.customer_id) if invoice.customer_id else None
        if known is None:
            raise EventParked(
                f"unknown customer {invoice.customer_id}: invoice {invoice.id} "
                "belongs to no organization"
            )
        org_id = known.org_id
    announcements.invoice_settled(uow, org_id, paid, invoice, usage, now, deps.actor)
    return org_id


def invoice_paid(deps: PaymentDeps, uow: UnitOfWork, obj: dict[str, Any]) -> str | None:
    return _invoice_event(deps, uow, obj, InvoiceStatus.PAID)


def invoice_payment_failed(deps: PaymentDeps, uow: UnitOfWork, obj: dict[str, Any]) -> str | None:
    return _invoice_event(deps, uow, obj, InvoiceStatus.PAST_DUE)


def invoice_changed(deps: PaymentDeps, uow: UnitOfWork, obj: dict[str, Any]) -> str | None:
    """Voided, marked uncollectible, or otherwise changed at Stripe (the Dashboard)."""
    return _invoice_event(deps, uow, obj, None)
