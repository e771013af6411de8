"""The comparison itself: our books against what Stripe's lists answered, one drift per
difference. Pure: no I/O, so every rule is tested on plain values. Customers and subscriptions
here; invoices and purchases in invoice_drift."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from domain.model.payments import CheckoutMode
from domain.model.prices import PriceBook
from domain.model.reconciliation import Drift, DriftKind, LocalBooks, ObjectType, Repair
from domain.model.subscriptions import Subscription, SubscriptionSnapshot, SubscriptionStatus
from domain.services.drift_books import (
    CHECKOUT_REPAIR,
    SUBSCRIPTION_REPAIR,
    Drifts,
    StripeBooks,
    as_text,
    valid_org,
)
from domain.services.invoice_drift import invoice_drifts, purchase_drifts

__all__ = ["StripeBooks", "compare"]

# Two of these at once is a double charge (an incomplete one is a payment not yet made).
CHARGING = frozenset(
    {
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.UNPAID,
        SubscriptionStatus.PAUSED,
    }
)


def compare(books: LocalBooks, stripe: StripeBooks, prices: PriceBook) -> list[Drift]:
    drifts = Drifts()
    org_of_customer = {c.stripe_customer_id: c.org_id for c in books.customers}
    _customers(books, stripe, drifts)
    _subscriptions(books, stripe, prices, org_of_customer, drifts)
    invoice_drifts(books, stripe, org_of_customer, drifts)
    purchase_drifts(books, stripe, drifts)
    return sorted(
        drifts.found.values(), key=lambda d: (d.org_id or "", d.object_type, d.object_id, d.kind)
    )


def _customers(books: LocalBooks, stripe: StripeBooks, drifts: Drifts) -> None:
    if stripe.customers is None:
        return
    at_stripe = {c.id for c in stripe.customers}
    ours = {c.stripe_customer_id for c in books.customers}
    for local in books.customers:
        if local.stripe_customer_id not in at_stripe:
            drifts.add(
                Drift(
                    local.org_id,
                    ObjectType.CUSTOMER,
                    local.stripe_customer_id,
                    DriftKind.MISSING_AT_STRIPE,
                    local.org_id,
                    None,
                )
            )
    for customer in stripe.customers:
        if customer.id not in ours:
            drifts.add(_orphan(customer.id, customer.org_id))


def _orphan(customer_id: str, metadata_org: str | None) -> Drift:
    return Drift(
        valid_org(metadata_org),
        ObjectType.CUSTOMER,
        customer_id,
        DriftKind.CUSTOMER_WITHOUT_ORGANIZATION,
        None,
        f"metadata.org_id={metadata_org}" if metadata_org else "no org_id",
    )


def _owner(
    snap: SubscriptionSnapshot, local: Subscription | None, org_of_customer: dict[str, str]
) -> str | None:
    if local is not None:
        return local.org_id
    return org_of_customer.get(snap.stripe_customer_id) or valid_org(snap.org_id)


def _subscriptions(
    books: LocalBooks,
    stripe: StripeBooks,
    prices: PriceBook,
    org_of_customer: dict[str, str],
    drifts: Drifts,
) -> None:
    local = {s.stripe_subscription_id: s for s in books.subscriptions}
    listed = {s.stripe_subscription_id for s in stripe.subscriptions}
    completed_by_sub = {
        s.subscription_id: s.id
        for s in stripe.sessions
        if s.subscription_id and s.mode == CheckoutMode.SUBSCRIPTION.value
    }
    charging: dict[str, list[str]] = {}
    for snap in stripe.subscriptions:
        owner = _owner(snap, local.get(snap.stripe_subscription_id), org_of_customer)
        if owner is not None and snap.status in CHARGING:
            charging.setdefault(owner, []).append(snap.stripe_subscription_id)
    duplicated = {org: ids for org, ids in charging.items() if len(ids) > 1}
    for org_id, ids in duplicated.items():
        ours = sorted(s.stripe_subscription_id for s in books.subscriptions if s.org_id == org_id)
        drifts.add(
            Drift(
                org_id,
                ObjectType.ORGANIZATION,
                org_id,
                DriftKind.DUPLICATE_LIVE_SUBSCRIPTIONS,
                ",".join(ours) or None,
                ",".join(sorted(ids)),
            )
        )
    in_duplicates = {sid for ids in duplicated.values() for sid in ids}
    for snap in stripe.subscriptions:
        sid = snap.stripe_subscription_id
        mine = local.get(sid)
        if mine is None:
            if sid in in_duplicates:
                continue  # reported with the organization's other live subscription
            owner = _owner(snap, None, org_of_customer)
            if owner is None:
                drifts.add(_orphan(snap.stripe_customer_id, snap.org_id))
                continue
            session = completed_by_sub.get(sid)
            repair = (
                Repair(CHECKOUT_REPAIR, session) if session else Repair(SUBSCRIPTION_REPAIR, sid)
            )
            drifts.add(
                Drift(
                    owner,
                    ObjectType.SUBSCRIPTION,
                    sid,
                    DriftKind.MISSING_LOCALLY,
                    None,
                    snap.status.value,
                    repair,
                )
            )
            continue
        for drift in _subscription_fields(mine, snap, prices):
            drifts.add(drift)
    for mine in books.subscriptions:
        if mine.stripe_subscription_id not in listed:
            drifts.add(
                Drift(
                    mine.org_id,
                    ObjectType.SUBSCRIPTION,
                    mine.stripe_subscription_id,
                    DriftKind.MISSING_AT_STRIPE,
                    mine.status.value,
                    None,
                )
            )


def _subscription_fields(
    mine: Subscription, snap: SubscriptionSnapshot, prices: PriceBook
) -> Iterable[Drift]:
    repair = Repair(SUBSCRIPTION_REPAIR, mine.stripe_subscription_id)
    tier = prices.tier_for(snap.stripe_price_id, snap.price_lookup_key, snap.plan_tier_hint)
    checks: Sequence[tuple[DriftKind, object, object]] = (
        (DriftKind.STATUS_DIFFERS, mine.status.value, snap.status.value),
        (
            DriftKind.PLAN_DIFFERS,
            f"{mine.tier.value if mine.tier else None} {mine.stripe_price_id}",
            f"{tier.value if tier else (mine.tier.value if mine.tier else None)} "
            f"{snap.stripe_price_id or mine.stripe_price_id}",
        ),
        (
            DriftKind.PERIOD_DIFFERS,
            f"{as_text(mine.current_period_start)}/{as_text(mine.current_period_end)}",
            f"{as_text(snap.current_period_start)}/{as_text(snap.current_period_end)}",
        ),
        (DriftKind.CANCEL_DIFFERS, mine.cancel_at_period_end, snap.cancel_at_period_end),
    )
    for kind, ours, theirs in checks:
        if ours != theirs:
            yield Drift(
                mine.org_id,
                ObjectType.SUBSCRIPTION,
                mine.stripe_subscription_id,
                kind,
                as_text(ours),
                as_text(theirs),
                repair,
            )
