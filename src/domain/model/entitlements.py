"""Which plan an organization is entitled to now (DESIGN §3, "Quotas")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import UnknownPlan
from domain.model.plans import Catalog, Plan
from domain.model.purchases import OneTimePurchase
from domain.model.subscriptions import Subscription, SubscriptionStatus


class EntitlementSource(StrEnum):
    """Where an organization's plan comes from."""

    DEFAULT = "default"  # no paying subscription or purchase: the catalog's default tier
    SUBSCRIPTION = "subscription"  # an active or trialing subscription
    GRACE_PERIOD = "grace_period"  # a past-due subscription, kept through the grace period
    PURCHASE = "purchase"  # a paid one-time purchase, for good
    DUNNING = "dunning"  # a usage invoice overdue past the grace period: the default tier

    @property
    def follows_subscription(self) -> bool:
        """The plan comes from a subscription, so quota periods follow its billing period."""
        return self in (EntitlementSource.SUBSCRIPTION, EntitlementSource.GRACE_PERIOD)


@dataclass(frozen=True)
class Entitlement:
    plan: Plan
    source: EntitlementSource
    subscription: Subscription | None = None


def entitlement_for(
    catalog: Catalog,
    subscriptions: Iterable[Subscription],
    purchases: Iterable[OneTimePurchase],
    now: datetime,
    grace: timedelta,
    usage_overdue: bool = False,
) -> Entitlement:
    """A paid one-time purchase wins for good; a usage invoice past due beyond the grace period
    drops the rest to the default tier (dunning); then the best-standing subscription; else
    the default."""
    for purchase in purchases:
        if purchase.grants_plan:
            plan = _plan_or_none(catalog, purchase.tier.value)
            if plan is not None:
                return Entitlement(plan, EntitlementSource.PURCHASE)
    subs = list(subscriptions)
    if usage_overdue:
        return Entitlement(catalog.default, EntitlementSource.DUNNING, subs[0] if subs else None)
    for sub in subs:
        plan = _plan_or_none(catalog, sub.tier.value) if sub.tier else None
        if plan is None:
            continue
        if sub.status.grants_plan:
            return Entitlement(plan, EntitlementSource.SUBSCRIPTION, sub)
        if sub.status is SubscriptionStatus.PAST_DUE:
            since = sub.past_due_since or sub.updated_at
            if now < since + grace:
                return Entitlement(plan, EntitlementSource.GRACE_PERIOD, sub)
    current = subs[0] if subs else None
    return Entitlement(catalog.default, EntitlementSource.DEFAULT, current)


def _plan_or_none(catalog: Catalog, tier: str) -> Plan | None:
    try:
        return catalog.get(tier)
    except UnknownPlan:
        return None
