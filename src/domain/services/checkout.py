"""Stripe Checkout for subscriptions and for the one-time white-label purchase, and the portal."""

from __future__ import annotations

import hashlib

from domain.errors import AlreadyPurchased, CustomerRequired, PlanNotPurchasable, SubscriptionExists
from domain.model.checkouts import CheckoutRecord, CheckoutStatus
from domain.model.ids import new_id
from domain.model.payments import CheckoutMode, CheckoutRequest, CheckoutSession
from domain.model.purchases import OneTimePurchase, PurchaseStatus
from domain.services.customers import ensure_customer
from domain.services.payment_deps import PaymentDeps
from domain.services.subscriptions import live_subscription, subscribable_plan


def create_checkout(
    deps: PaymentDeps,
    org_id: str,
    plan_tier: str,
    success_url: str | None = None,
    cancel_url: str | None = None,
) -> CheckoutSession:
    gateway = deps.require_gateway()
    plan = subscribable_plan(deps, plan_tier, None)
    success = deps.redirects.choose(success_url, deps.success_url, "success_url")
    cancel = deps.redirects.choose(cancel_url, deps.cancel_url, "cancel_url")
    if live_subscription(deps, org_id) is not None:
        raise SubscriptionExists(
            "the organization already has a live subscription: change its plan instead"
        )
    customer, _ = ensure_customer(deps, org_id)
    record = CheckoutRecord(
        new_id("chk"),
        org_id,
        plan.tier,
        CheckoutMode.SUBSCRIPTION,
        CheckoutStatus.OPEN,
        deps.clock.now(),
    )
    session = gateway.create_checkout_session(
        CheckoutRequest(
            customer.stripe_customer_id,
            org_id,
            deps.price_id(plan),
            CheckoutMode.SUBSCRIPTION,
            success,
            cancel,
            {"org_id": org_id, "plan_tier": plan.tier.value, "checkout_id": record.id},
        ),
        idempotency_key=f"checkout-create:{record.id}",
    )
    record.opened(session.id)
    with deps.uow() as uow:
        uow.checkouts.add(record)
        uow.commit()
    return session


def purchase_white_label(
    deps: PaymentDeps,
    org_id: str,
    plan_tier: str,
    success_url: str | None = None,
    cancel_url: str | None = None,
) -> CheckoutSession:
    gateway = deps.require_gateway()
    plan = deps.catalog.get(plan_tier)
    if not plan.is_one_time:
        raise PlanNotPurchasable(
            f"{plan.tier.value} is a subscription: use checkout", plan_tier=plan.tier.value
        )
    price_id = deps.price_id(plan)
    success = deps.redirects.choose(success_url, deps.success_url, "success_url")
    cancel = deps.redirects.choose(cancel_url, deps.cancel_url, "cancel_url")
    with deps.uow() as uow:
        if any(p.tier is plan.tier and p.grants_plan for p in uow.purchases.for_org(org_id)):
            raise AlreadyPurchased(f"the organization already owns {plan.tier.value}")
    customer, _ = ensure_customer(deps, org_id)
    now = deps.clock.now()
    purchase = OneTimePurchase(
        new_id("pur"), org_id, plan.tier, plan.price, PurchaseStatus.PENDING, None, None, now
    )
    record = CheckoutRecord(
        new_id("chk"), org_id, plan.tier, CheckoutMode.PAYMENT, CheckoutStatus.OPEN, now
    )
    session = gateway.create_checkout_session(
        CheckoutRequest(
            customer.stripe_customer_id,
            org_id,
            price_id,
            CheckoutMode.PAYMENT,
            success,
            cancel,
            {
                "org_id": org_id,
                "plan_tier": plan.tier.value,
                "purchase_id": purchase.id,
                "checkout_id": record.id,
            },
        ),
        idempotency_key=f"purchase-checkout:{purchase.id}",
    )
    purchase.opened(session.id)
    record.opened(session.id)
    with deps.uow() as uow:
        uow.purchases.add(purchase)
        uow.checkouts.add(record)
        uow.commit()
    return session


def open_portal(deps: PaymentDeps, org_id: str, return_url: str | None = None) -> str:
    gateway = deps.require_gateway()
    url = deps.redirects.choose(
        return_url, deps.portal_return_url or deps.success_url, "return_url"
    )
    with deps.uow() as uow:
        customer = uow.customers.for_org(org_id)
    if customer is None:
        raise CustomerRequired("the organization has no Stripe customer yet: subscribe first")
    # Repeats within the same minute (double clicks) answer the same portal session.
    minute = deps.clock.now().strftime("%Y%m%d%H%M")
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return gateway.create_portal_session(
        customer.stripe_customer_id, url, idempotency_key=f"portal:{org_id}:{digest}:{minute}"
    )
