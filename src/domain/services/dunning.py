"""Dunning: a failed payment makes a subscription or usage invoice past due; after the grace
period the organization's entitlements drop to the default tier, and a payment restores them.

Entitlements are always computed from the current records (see standing.py), so the drop
happens by itself once the grace period is over. This scheduled check records each drop and
restore in the audit trail once, and makes the quota counter reload the organization's window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.errors import QuotaUnavailable
from domain.model.audit import AuditEntry
from domain.model.entitlements import EntitlementSource
from domain.model.invoicing import InvoiceStatus
from domain.model.subscriptions import SubscriptionStatus
from domain.services.quotas import QuotaDeps
from domain.services.standing import current_entitlement

DOWNGRADED = "entitlement.downgraded"
RESTORED = "entitlement.restored"


@dataclass
class DunningReport:
    downgraded: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)


def check_dunning(deps: QuotaDeps, actor: str = "scheduler:dunning") -> DunningReport:
    report = DunningReport()
    with deps.uow() as uow:
        candidates = (
            set(uow.subscriptions.orgs_with_status(SubscriptionStatus.PAST_DUE))
            | set(uow.usage_invoices.orgs_with_status(InvoiceStatus.PAST_DUE))
            | set(uow.audit.orgs_with(DOWNGRADED))
        )
    for org_id in sorted(candidates):
        now = deps.clock.now()
        with deps.uow() as uow:
            entitlement = current_entitlement(uow, deps.catalog, org_id, now, deps.grace)
            past_due = any(
                s.status is SubscriptionStatus.PAST_DUE for s in uow.subscriptions.for_org(org_id)
            )
            dropped = entitlement.source is EntitlementSource.DUNNING or (
                entitlement.source is EntitlementSource.DEFAULT and past_due
            )
            last = uow.audit.last(org_id, "entitlement.")
            was_dropped = last is not None and last.action == DOWNGRADED
            if dropped == was_dropped:
                continue
            action = DOWNGRADED if dropped else RESTORED
            uow.audit.record(
                AuditEntry(
                    org_id,
                    now,
                    actor,
                    action,
                    {"plan": entitlement.plan.tier.value, "source": entitlement.source.value},
                )
            )
            uow.commit()
        (report.downgraded if dropped else report.restored).append(org_id)
        try:
            deps.counter.forget_window(org_id)
        except QuotaUnavailable:
            pass  # the window expires on its own within a minute
    return report
