"""The caller's billing status: plan, where it comes from and the subscription's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import NotFound
from domain.model.entitlements import EntitlementSource
from domain.model.plans import Catalog, Plan
from domain.model.subscriptions import Subscription
from domain.ports import Clock, UnitOfWorkFactory
from domain.services.standing import current_entitlement


@dataclass(frozen=True)
class BillingStatus:
    org_id: str
    plan: Plan
    source: EntitlementSource
    subscription: Subscription | None
    has_stripe_customer: bool
    as_of: datetime


def get_billing_status(
    uow_factory: UnitOfWorkFactory, clock: Clock, catalog: Catalog, org_id: str, grace: timedelta
) -> BillingStatus:
    now = clock.now()
    with uow_factory() as uow:
        if uow.organizations.get(org_id) is None:
            raise NotFound(f"organization {org_id!r} not found")
        entitlement = current_entitlement(uow, catalog, org_id, now, grace)
        customer = uow.customers.for_org(org_id)
    return BillingStatus(
        org_id,
        entitlement.plan,
        entitlement.source,
        entitlement.subscription,
        customer is not None,
        now,
    )
