"""Subscriptions created directly, changed with proration, canceled and resumed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.errors import (
    NoSubscription,
    PlanNotPurchasable,
    PlanUnchanged,
    SubscriptionExists,
    SubscriptionNotResumable,
)
from domain.model.audit import AuditEntry, SubscriptionChange
from domain.model.money import Money
from domain.model.payments import ProrationBehavior, ProrationPreview, SubscriptionIntent
from domain.model.plans import Plan
from domain.model.prices import PriceBook
from domain.model.subscriptions import Subscription, SubscriptionSnapshot, SubscriptionStatus
from domain.ports import UnitOfWork
from domain.services import announcements
from domain.services.audit import record_billing_change
from domain.services.customers import ensure_customer
from domain.services.payment_deps import PaymentDeps


def subscribable_plan(deps: PaymentDeps, plan_tier: str | None, price_id: str | None) -> Plan:
    plan = deps.plan_for_price(price_id) if price_id else deps.catalog.get(plan_tier or "")
    if plan.is_one_time:
        raise PlanNotPurchasable(
            f"{plan.tier.value} is a one-time purchase: use POST /api/v1/white-label/purchase",
            plan_tier=plan.tier.value,
        )
    deps.price_id(plan)  # refuses free plans and plans without a price
    return plan


def live_subscription(deps: PaymentDeps, org_id: str) -> Subscription | None:
    with deps.uow() as uow:
        return next((s for s in uow.subscriptions.for_org(org_id) if s.status.is_live), None)


def create_subscription(
    deps: PaymentDeps, org_id: str, plan_tier: str | None = None, price_id: str | None = None
) -> SubscriptionIntent:
    gateway = deps.require_gateway()
    plan = subscribable_plan(deps, plan_tier, price_id)
    existing = live_subscription(deps, org_id)
    if existing is not None:
        raise SubscriptionExists(
            "the organization already has a live subscription: change its plan instead",
            subscription_id=existing.stripe_subscription_id,
        )
    customer, _ = ensure_customer(deps, org_id)
    with deps.uow() as uow:
        attempt = len(uow.subscriptions.for_org(org_id)) + 1
    intent = gateway.create_subscription(
        customer.stripe_customer_id,
        deps.price_id(plan),
        {"org_id": org_id, "plan_tier": plan.tier.value},
        idempotency_key=f"subscription-create:{org_id}:{attempt}",
    )
    snapshot = replace(intent.snapshot, tier=plan.tier)
    record(deps, org_id, snapshot)
    return replace(intent, snapshot=snapshot)


def record(deps: PaymentDeps, org_id: str, snapshot: SubscriptionSnapshot) -> Subscription:
    """Store what the provider answered, creating or updating our mirror."""
    with deps.uow() as uow:
        uow.lock(f"subscription:{snapshot.stripe_subscription_id}")
        sub = apply_snapshot(
            uow, deps.prices, org_id, snapshot, deps.clock.now(), deps.actor, deps.grace
        )
        uow.commit()
    deps.plan_changed(org_id)
    return sub


def apply_snapshot(
    uow: UnitOfWork,
    prices: PriceBook,
    org_id: str,
    snapshot: SubscriptionSnapshot,
    now: datetime,
    actor: str = "system",
    grace: timedelta = timedelta(days=7),
) -> Subscription:
    """Create or update our mirror of a subscription inside the caller's transaction; a change
    of status, plan or cancellation is written to the audit trail with its cause and announced
    to the product (subscription.updated, and entitlement.changed when the plan it grants
    changes)."""
    if snapshot.tier is None:
        snapshot = replace(
            snapshot,
            tier=prices.tier_for(
                snapshot.stripe_price_id, snapshot.price_lookup_key, snapshot.plan_tier_hint
            ),
        )
    sub = uow.subscriptions.get(snapshot.stripe_subscription_id)
    before = (
        None
        if sub is None
        else (sub.status.value, sub.tier.value if sub.tier else None, sub.cancel_at_period_end)
    )
    if sub is None:
        sub = Subscription.from_snapshot(org_id, snapshot, now)
    else:
        sub.apply(snapshot, now)
    after = (sub.status.value, sub.tier.value if sub.tier else None, sub.cancel_at_period_end)
    watch = None
    if before != after:
        watch = announcements.EntitlementWatch(uow, prices.catalog, org_id, now, grace)
        announcements.subscription_updated(uow, sub, now, actor)
        record_billing_change(
            uow,
            AuditEntry(
                org_id,
                now,
                actor,
                "subscription.changed",
                {
                    "subscription_id": sub.stripe_subscription_id,
                    "from": None if before is None else dict(zip(_AUDITED, before, strict=True)),
                    "to": dict(zip(_AUDITED, after, strict=True)),
                },
            ),
        )
        plan = prices.catalog.get(sub.tier) if sub.tier else None
        monthly = (
            plan.monthly_price() if plan else Money.zero(prices.catalog.default.price.currency)
        )
        uow.audit.record_change(
            SubscriptionChange(
                org_id,
                sub.stripe_subscription_id,
                now,
                sub.status.value,
                sub.tier.value if sub.tier else None,
                monthly.amount_minor,
                monthly.currency,
            )
        )
    uow.subscriptions.save(sub)
    if watch is not None:
        watch.announce_if_changed(actor)
    return sub


_AUDITED = ("status", "tier", "cancel_at_period_end")


def _require_live(deps: PaymentDeps, org_id: str) -> Subscription:
    sub = live_subscription(deps, org_id)
    if sub is None:
        raise NoSubscription("the organization has no live subscription")
    return sub


def _version(sub: Subscription) -> int:
    """Changes with every recorded state, so a repeated request replays and a new one does not."""
    return int(sub.updated_at.timestamp() * 1_000_000)


@dataclass(frozen=True)
class PlanChange:
    subscription: Subscription
    plan: Plan
    upgrade: bool  # invoiced and charged now; a downgrade leaves a credit on the next invoice

    @property
    def proration(self) -> ProrationBehavior:
        if self.upgrade:
            return ProrationBehavior.ALWAYS_INVOICE
        return ProrationBehavior.CREATE_PRORATIONS


@dataclass(frozen=True)
class PlanChangePreview:
    change: PlanChange
    preview: ProrationPreview

    @property
    def due_now(self) -> Money:
        """Charged at once on an upgrade; nothing on a downgrade."""
        total = self.preview.invoice_total
        return total if self.change.upgrade else Money.zero(total.currency)


def _plan_change(deps: PaymentDeps, org_id: str, plan_tier: str) -> PlanChange:
    sub = _require_live(deps, org_id)
    plan = subscribable_plan(deps, plan_tier, None)
    if sub.tier is plan.tier:
        raise PlanUnchanged(f"the subscription is already on {plan.tier.value}")
    current = deps.catalog.get(sub.tier) if sub.tier else None
    return PlanChange(sub, plan, upgrade=current is None or current.price < plan.price)


def preview_plan_change(deps: PaymentDeps, org_id: str, plan_tier: str) -> PlanChangePreview:
    """What a change of plan would charge now (or credit later), from Stripe's invoice preview
    at this moment; pass its `proration_date` to `change_plan` to be charged exactly that."""
    gateway = deps.require_gateway()
    change = _plan_change(deps, org_id, plan_tier)
    preview = gateway.preview_subscription_change(
        change.subscription.stripe_subscription_id,
        deps.price_id(change.plan),
        change.proration,
        int(deps.clock.now().timestamp()),
    )
    return PlanChangePreview(change, preview)


def change_plan(
    deps: PaymentDeps, org_id: str, plan_tier: str, proration_date: int | None = None
) -> Subscription:
    gateway = deps.require_gateway()
    change = _plan_change(deps, org_id, plan_tier)
    sub, price_id = change.subscription, deps.price_id(change.plan)
    snapshot = gateway.change_subscription_price(
        sub.stripe_subscription_id,
        price_id,
        change.proration,
        idempotency_key=f"subscription-change:{sub.stripe_subscription_id}:{price_id}:"
        f"{_version(sub)}",
        proration_date=proration_date,
    )
    return record(deps, org_id, replace(snapshot, tier=change.plan.tier))


def cancel_subscription(deps: PaymentDeps, org_id: str, at_period_end: bool = True) -> Subscription:
    gateway = deps.require_gateway()
    sub = _require_live(deps, org_id)
    key = f"subscription-cancel:{sub.stripe_subscription_id}:{int(at_period_end)}:{_version(sub)}"
    if at_period_end:
        snapshot = gateway.set_cancel_at_period_end(
            sub.stripe_subscription_id, True, idempotency_key=key
        )
    else:
        snapshot = gateway.cancel_subscription_now(sub.stripe_subscription_id, idempotency_key=key)
    return record(deps, org_id, snapshot)


def resume_subscription(deps: PaymentDeps, org_id: str) -> Subscription:
    """Undo a cancellation scheduled for the period's end."""
    gateway = deps.require_gateway()
    sub = _require_live(deps, org_id)
    if not sub.cancel_at_period_end or sub.status is SubscriptionStatus.CANCELED:
        raise SubscriptionNotResumable("the subscription is not scheduled to cancel")
    snapshot = gateway.set_cancel_at_period_end(
        sub.stripe_subscription_id,
        False,
        idempotency_key=f"subscription-resume:{sub.stripe_subscription_id}:{_version(sub)}",
    )
    return record(deps, org_id, snapshot)
