"""The billing changes announced to the product, each inside the transaction that makes it.

A change caused by a Stripe event carries the event in its dedupe key, so the event applied
again (a redelivery, a replay, a retried job) announces nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.model import views
from domain.model.entitlements import Entitlement
from domain.model.invoicing import UsageInvoice
from domain.model.outbound import (
    ENTITLEMENT_CHANGED,
    INVOICE_CREATED,
    INVOICE_PAID,
    INVOICE_PAYMENT_FAILED,
    SUBSCRIPTION_UPDATED,
)
from domain.model.payments import InvoiceSnapshot
from domain.model.plans import Catalog
from domain.model.subscriptions import Subscription
from domain.ports import UnitOfWork
from domain.services.announce import announce
from domain.services.standing import current_entitlement


def _caused_by(actor: str, what: str) -> str | None:
    """A Stripe event's change is announced once per event; an owner's call is its own cause
    (the event Stripe sends about it later finds nothing changed)."""
    return f"{actor}:{what}" if actor.startswith("stripe:") else None


def subscription_updated(uow: UnitOfWork, sub: Subscription, now: datetime, actor: str) -> None:
    announce(
        uow,
        org_id=sub.org_id,
        event_type=SUBSCRIPTION_UPDATED,
        data=views.subscription(sub) or {},
        now=now,
        dedupe_key=_caused_by(actor, f"{SUBSCRIPTION_UPDATED}:{sub.stripe_subscription_id}"),
    )


class EntitlementWatch:
    """The organization's entitlement before a change; `announce_if_changed` after it."""

    def __init__(
        self, uow: UnitOfWork, catalog: Catalog, org_id: str, now: datetime, grace: timedelta
    ) -> None:
        self.uow, self.catalog, self.org_id, self.now, self.grace = uow, catalog, org_id, now, grace
        self.before = self._current()

    def _current(self) -> Entitlement:
        return current_entitlement(self.uow, self.catalog, self.org_id, self.now, self.grace)

    def announce_if_changed(self, actor: str) -> bool:
        after = self._current()
        if (after.plan.tier, after.source) == (self.before.plan.tier, self.before.source):
            return False
        data = views.entitlement(self.org_id, after)
        data["previous"] = {
            "tier": self.before.plan.tier.value,
            "plan_source": self.before.source.value,
        }
        announce(
            self.uow,
            org_id=self.org_id,
            event_type=ENTITLEMENT_CHANGED,
            data=data,
            now=self.now,
            dedupe_key=_caused_by(actor, ENTITLEMENT_CHANGED),
        )
        return True


def invoice_created(uow: UnitOfWork, invoice: UsageInvoice, now: datetime) -> None:
    """A usage invoice stored (a draft on its way to Stripe, or held): once per invoice."""
    announce(
        uow,
        org_id=invoice.org_id,
        event_type=INVOICE_CREATED,
        data=views.invoice(invoice),
        now=now,
        dedupe_key=f"{INVOICE_CREATED}:{invoice.id}",
    )


def invoice_settled(
    uow: UnitOfWork,
    org_id: str,
    paid: bool,
    snapshot: InvoiceSnapshot,
    usage: UsageInvoice | None,
    now: datetime,
    actor: str,
) -> None:
    """invoice.paid once per invoice; invoice.payment_failed once per Stripe event (each
    failed attempt is news)."""
    data = views.invoice(usage) if usage is not None else views.stripe_invoice(snapshot)
    key: str | None
    if paid:
        event_type, key = INVOICE_PAID, f"{INVOICE_PAID}:{snapshot.id}"
    else:
        event_type = INVOICE_PAYMENT_FAILED
        key = _caused_by(actor, f"{INVOICE_PAYMENT_FAILED}:{snapshot.id}")
    announce(uow, org_id=org_id, event_type=event_type, data=data, now=now, dedupe_key=key)
