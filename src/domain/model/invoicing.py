"""Usage invoices: an organization's unbilled voice usage, priced per line, billed once on Stripe.

Pricing: words / 1,000 x the rate (USAGE_PRICE_PER_1000_WORDS, default 1.00 USD), in Decimal,
rounded once per line to the currency's minor unit with ROUND_HALF_UP: the rule people check an
invoice with (0.5 cent and above rounds up), applied where Stripe needs integer cents, and only
once, so lines never drift from the words they bill.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum

from domain.model.metering import LinkedTotal, UsageEvent
from domain.model.money import Money
from domain.model.plans import Metric

BILLED_METRICS = (Metric.STT_WORDS, Metric.TTS_WORDS)


class InvoiceStatus(StrEnum):
    DRAFT = "draft"  # created locally, usage assigned; Stripe invoice not yet finalized
    OPEN = "open"
    PAID = "paid"
    PAST_DUE = "past_due"
    UNCOLLECTIBLE = "uncollectible"
    VOID = "void"
    HELD = "held"  # kept from Stripe for an operator: see `hold_reason`


STRIPE_PAID = "paid"
STRIPE_VOID = "void"


def status_from_stripe(stripe_status: str | None, unpaid: InvoiceStatus) -> InvoiceStatus:
    """Our status for an invoice as Stripe reports it (draft, open, paid, uncollectible, void):
    paid once Stripe says paid, void once voided there (nothing is owed any more); until then,
    `unpaid`, the state the occasion puts it in (open once finalized, past due once a payment
    failed)."""
    if stripe_status == STRIPE_PAID:
        return InvoiceStatus.PAID
    if stripe_status == STRIPE_VOID:
        return InvoiceStatus.VOID
    return unpaid


@dataclass(frozen=True)
class UsagePrice:
    per_thousand: Decimal
    currency: str = "usd"

    def charge(self, words: int) -> Money:
        # Exact before the one rounding: 2^53 words times a long rate overflows the default
        # 28 significant digits, which would round twice.
        with localcontext() as exact:
            # Exact for any rate of up to 84 significant digits (16 for the words, the rest for
            # the rate), where one digit more or less changes no line.
            exact.prec = 100  # pragma: no mutate
            return Money.round_from(Decimal(words) * self.per_thousand / 1000, self.currency)


@dataclass
class InvoiceLine:
    metric: Metric
    quantity: int
    amount: Money
    event_count: int
    period_start: datetime
    period_end: datetime
    stripe_invoice_item_id: str | None = None
    id: int | None = None

    @property
    def description(self) -> str:
        words = "speech-to-text" if self.metric is Metric.STT_WORDS else "text-to-speech"
        return (
            f"{self.quantity:,} {words} words "
            f"({self.period_start:%Y-%m-%d} to {self.period_end:%Y-%m-%d})"
        )


def price_totals(totals: Iterable[LinkedTotal], price: UsagePrice) -> list[InvoiceLine]:
    """One line per billed metric, in the catalog's order, priced from exactly these totals."""
    by_metric = {total.metric: total for total in totals}
    return [
        InvoiceLine(metric, t.quantity, price.charge(t.quantity), t.events, t.first, t.last)
        for metric in BILLED_METRICS
        if (t := by_metric.get(metric)) is not None
    ]


def totals_of(events: Iterable[UsageEvent]) -> list[LinkedTotal]:
    """The per-metric totals of some ledger entries (what the database sums in SQL)."""
    by_metric: dict[Metric, list[UsageEvent]] = {}
    for event in events:
        by_metric.setdefault(event.metric, []).append(event)
    return [
        LinkedTotal(
            metric,
            sum(e.quantity for e in found),
            len(found),
            min(e.occurred_at for e in found),
            max(e.occurred_at for e in found),
        )
        for metric, found in by_metric.items()
    ]


@dataclass
class UsageInvoice:
    id: str
    org_id: str
    status: InvoiceStatus
    period_start: datetime
    period_end: datetime
    total: Money
    created_at: datetime
    updated_at: datetime
    stripe_invoice_id: str | None = None
    hosted_invoice_url: str | None = None
    past_due_since: datetime | None = None
    hold_reason: str | None = None
    lines: list[InvoiceLine] = field(default_factory=list)

    @classmethod
    def draft(
        cls, invoice_id: str, org_id: str, cutoff: datetime, now: datetime, currency: str
    ) -> UsageInvoice:
        """An empty draft: the usage it bills is linked to it, then `bill` prices that."""
        return cls(
            invoice_id, org_id, InvoiceStatus.DRAFT, cutoff, cutoff, Money.zero(currency), now, now
        )

    def bill(self, lines: Sequence[InvoiceLine]) -> None:
        self.lines = list(lines)
        self.total = sum((line.amount for line in lines), Money.zero(self.total.currency))
        self.period_start = min((line.period_start for line in lines), default=self.period_end)

    def hold(self, reason: str, now: datetime) -> None:
        """Keep the invoice (and the usage it bills) from Stripe until an operator acts."""
        self.hold_reason = reason
        self.set_status(InvoiceStatus.HELD, now)

    @property
    def finalized(self) -> bool:
        return self.status is not InvoiceStatus.DRAFT

    def link_stripe(self, stripe_invoice_id: str, hosted_url: str | None, now: datetime) -> None:
        self.stripe_invoice_id = stripe_invoice_id
        self.hosted_invoice_url = hosted_url or self.hosted_invoice_url
        self.updated_at = now

    def link_item(self, line: InvoiceLine, stripe_invoice_item_id: str) -> None:
        """The Stripe invoice item that bills this line: created once, never again."""
        line.stripe_invoice_item_id = stripe_invoice_item_id

    def follow_stripe(
        self, stripe_status: str | None, unpaid: InvoiceStatus, now: datetime
    ) -> bool:
        """Take the status Stripe reports; answer whether ours changed."""
        return self.set_status(status_from_stripe(stripe_status, unpaid), now)

    def set_status(self, status: InvoiceStatus, now: datetime) -> bool:
        if status is self.status:
            return False
        if status is InvoiceStatus.PAST_DUE and self.past_due_since is None:
            self.past_due_since = now
        elif status is not InvoiceStatus.PAST_DUE:
            self.past_due_since = None
        self.status = status
        self.updated_at = now
        return True

    def overdue(self, now: datetime, grace: timedelta) -> bool:
        """Past due for longer than the grace period: entitlements drop to the default tier."""
        return self.past_due_since is not None and now >= self.past_due_since + grace
