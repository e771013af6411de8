"""What the comparison rules share: Stripe's lists for one run, the set of drifts found, and
the handlers that repair each kind of object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.errors import InvalidOrganization
from domain.model.organizations import validate_org_id
from domain.model.payments import CheckoutSession, CustomerInfo, InvoiceSnapshot
from domain.model.reconciliation import Drift
from domain.model.subscriptions import SubscriptionSnapshot

SUBSCRIPTION_REPAIR = "customer.subscription.updated"
CHECKOUT_REPAIR = "checkout.session.completed"
INVOICE_REPAIRS = {"paid": "invoice.paid", "void": "invoice.voided"}
INVOICE_REPAIR = "invoice.updated"  # the handler that follows any other change


@dataclass
class StripeBooks:
    """What Stripe's lists answered for one run."""

    customers: list[CustomerInfo] | None  # None: not listed (a run for one organization)
    subscriptions: list[SubscriptionSnapshot] = field(default_factory=list)
    invoices: list[InvoiceSnapshot] = field(default_factory=list)
    sessions: list[CheckoutSession] = field(default_factory=list)
    invoices_since: datetime | None = None  # invoices created before were not listed

    @property
    def objects(self) -> int:
        return (
            len(self.customers or ())
            + len(self.subscriptions)
            + len(self.invoices)
            + len(self.sessions)
        )


class Drifts:
    def __init__(self) -> None:
        self.found: dict[str, Drift] = {}

    def add(self, drift: Drift) -> None:
        self.found.setdefault(drift.key, drift)


def valid_org(org_id: str | None) -> str | None:
    try:
        return validate_org_id(org_id) if org_id else None
    except InvalidOrganization:  # a foreign value in Stripe's metadata is no organization
        return None


def as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
