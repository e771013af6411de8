"""What the payment provider is asked for and answers, in billing words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.model.money import Money
from domain.model.plans import Interval, Tier
from domain.model.subscriptions import SubscriptionSnapshot


class CheckoutMode(StrEnum):
    SUBSCRIPTION = "subscription"
    PAYMENT = "payment"


class ProrationBehavior(StrEnum):
    """Upgrades are invoiced at once; downgrades leave a credit on the next invoice."""

    ALWAYS_INVOICE = "always_invoice"
    CREATE_PRORATIONS = "create_prorations"


@dataclass(frozen=True)
class CheckoutRequest:
    customer_id: str
    org_id: str
    price_id: str
    mode: CheckoutMode
    success_url: str
    cancel_url: str
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    mode: str = CheckoutMode.SUBSCRIPTION.value
    status: str = "open"
    payment_status: str | None = None
    customer_id: str | None = None
    subscription_id: str | None = None
    payment_intent_id: str | None = None
    client_reference_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def paid(self) -> bool:
        """Stripe collected the session's payment (`payment_status`: paid, unpaid or
        no_payment_required)."""
        return self.payment_status == "paid"


@dataclass(frozen=True)
class InvoiceSnapshot:
    """An invoice as Stripe holds it now."""

    id: str
    customer_id: str | None
    subscription_id: str | None
    status: str | None  # draft, open, paid, uncollectible, void
    amount_due: Money
    amount_paid: Money
    hosted_invoice_url: str | None = None
    attempt_count: int = 0
    # What reconciliation compares (see domain.services.reconciliation).
    parent_type: str | None = None  # subscription_details, quote_details, or None (one-off)
    total: Money | None = None
    line_count: int | None = None  # None: more lines than the list embeds
    lines_total: Money | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    created: datetime | None = None

    @property
    def usage_invoice_id(self) -> str | None:
        """Our usage invoice's id, which we put in the metadata of every invoice we create."""
        return self.metadata.get("usage_invoice_id")


@dataclass(frozen=True)
class CustomerInfo:
    """A Stripe customer as the customers list shows it."""

    id: str
    org_id: str | None  # the org_id we put in its metadata
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class SubscriptionIntent:
    """A subscription created with payment_behavior=default_incomplete, and what the front end
    needs to confirm its first payment."""

    snapshot: SubscriptionSnapshot
    client_secret: str | None
    latest_invoice_id: str | None


@dataclass(frozen=True)
class PriceInfo:
    id: str
    lookup_key: str | None
    product_id: str
    unit_amount: Money
    interval: Interval
    active: bool = True


@dataclass(frozen=True)
class PriceSpec:
    """A catalog price to create in the provider."""

    lookup_key: str
    product_id: str
    product_name: str
    unit_amount: Money
    interval: Interval
    tier: Tier


@dataclass(frozen=True)
class ProrationPreview:
    """Stripe's preview of a plan change: the prorations (positive: charged, negative: a
    credit) and the invoice they land on, computed at `proration_date` (the same date is passed
    to the change, so what is charged is what was shown)."""

    prorations: Money
    invoice_total: Money
    proration_date: int  # Unix seconds
