"""An organization's billing standing: what its subscriptions, purchases and unpaid usage
invoices entitle it to now. Used by the status, the quota windows and the dunning check."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.model.entitlements import Entitlement, entitlement_for
from domain.model.plans import Catalog
from domain.ports import UnitOfWork


def current_entitlement(
    uow: UnitOfWork, catalog: Catalog, org_id: str, now: datetime, grace: timedelta
) -> Entitlement:
    overdue = any(invoice.overdue(now, grace) for invoice in uow.usage_invoices.past_due(org_id))
    return entitlement_for(
        catalog,
        uow.subscriptions.for_org(org_id),
        uow.purchases.for_org(org_id),
        now,
        grace,
        usage_overdue=overdue,
    )
