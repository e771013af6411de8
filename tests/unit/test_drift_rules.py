"""The comparison rules on plain values: what is a drift, which ones Stripe owns."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from domain.model.customers import StripeCustomer
from domain.model.invoicing import InvoiceLine, InvoiceStatus, UsageInvoice
from domain.model.money import Money
from domain.model.payments import InvoiceSnapshot
from domain.model.plans import Metric, Tier, default_catalog
from domain.model.prices import PriceBook
from domain.model.reconciliation import DriftKind, LocalBooks, Repair
from domain.model.subscriptions import Subscription, SubscriptionSnapshot, SubscriptionStatus
from domain.services.drift_rules import StripeBooks, compare

NOW = datetime(2026, 11, 15, tzinfo=UTC)
PRICES = PriceBook(default_catalog(), {Tier.PRO: "price_pro", Tier.STARTER: "price_starter"})
USD = "usd"


def usage(status=InvoiceStatus.OPEN, url="https://invoice.stripe.com/i/in_1") -> UsageInvoice:
    invoice = UsageInvoice.draft("uinv_1", "org_a", NOW, NOW, USD)
    invoice.bill([InvoiceLine(Metric.STT_WORDS, 2500, Money(250, USD), 1, NOW, NOW)])
    invoice.link_stripe("in_1", url, NOW)
    invoice.set_status(status, NOW)
    return invoice


def stripe_invoice(status="open", **fields) -> InvoiceSnapshot:
    values = dict(
        id="in_1",
        customer_id="cus_a",
        subscription_id=None,
        status=status,
        amount_due=Money(250, USD),
        amount_paid=Money(0, USD),
        hosted_invoice_url="https://invoice.stripe.com/i/in_1",
        total=Money(250, USD),
        line_count=1,
        lines_total=Money(250, USD),
        metadata={"usage_invoice_id": "uinv_1", "org_id": "org_a"},
    )
    values.update(fields)
    return InvoiceSnapshot(**values)


def books(**kwargs) -> LocalBooks:
    return LocalBooks(customers=[StripeCustomer("org_a", "cus_a", None, None, NOW)], **kwargs)


def kinds(local: LocalBooks, stripe: StripeBooks):
    return [(d.object_id, d.kind, d.repair) for d in compare(local, stripe, PRICES)]


def test_a_usage_invoice_equal_on_both_sides_is_no_drift():
    assert kinds(books(invoices=[usage()]), StripeBooks(None, invoices=[stripe_invoice()])) == []


def test_a_changed_hosted_url_is_stripes_and_repaired_by_the_invoice_handler():
    found = kinds(books(invoices=[usage(url=None)]), StripeBooks(None, invoices=[stripe_invoice()]))
    assert found == [("in_1", DriftKind.HOSTED_URL_DIFFERS, Repair("invoice.updated", "in_1"))]


def test_paid_or_void_at_stripe_is_repaired_anything_else_only_reported():
    for theirs, repair in (("paid", "invoice.paid"), ("void", "invoice.voided")):
        found = kinds(
            books(invoices=[usage()]), StripeBooks(None, invoices=[stripe_invoice(theirs)])
        )
        assert found == [("in_1", DriftKind.STATUS_DIFFERS, Repair(repair, "in_1"))]
    # Ours paid, Stripe's still open: money, for a person.
    ours_paid = books(invoices=[usage(InvoiceStatus.PAID)])
    assert kinds(ours_paid, StripeBooks(None, invoices=[stripe_invoice("open")])) == [
        ("in_1", DriftKind.STATUS_DIFFERS, None)
    ]
    # Past due here and open at Stripe is the same unpaid invoice.
    past_due = books(invoices=[usage(InvoiceStatus.PAST_DUE)])
    assert kinds(past_due, StripeBooks(None, invoices=[stripe_invoice("open")])) == []


def test_items_that_do_not_add_up_to_our_lines_are_an_amount_drift():
    two_lines = stripe_invoice(line_count=2, lines_total=Money(250, USD))
    assert kinds(books(invoices=[usage()]), StripeBooks(None, invoices=[two_lines])) == [
        ("in_1", DriftKind.AMOUNT_DIFFERS, None)
    ]
    unknown_lines = stripe_invoice(line_count=None, lines_total=None)  # more than embedded
    assert kinds(books(invoices=[usage()]), StripeBooks(None, invoices=[unknown_lines])) == []


def test_stripe_invoices_of_subscriptions_and_our_drafts_in_flight_are_not_missing_here():
    subscription_invoice = stripe_invoice(
        id="in_sub", parent_type="subscription_details", subscription_id="sub_1", metadata={}
    )
    in_flight = stripe_invoice(id="in_new", status="draft")
    local = books(invoices=[replace(usage(), stripe_invoice_id=None)])
    local.invoices[0].id = "uinv_1"
    assert kinds(books(), StripeBooks(None, invoices=[subscription_invoice])) == []
    assert kinds(local, StripeBooks(None, invoices=[in_flight])) == []
    one_off = stripe_invoice(id="in_manual", metadata={})
    assert kinds(books(), StripeBooks(None, invoices=[one_off])) == [
        ("in_manual", DriftKind.MISSING_LOCALLY, None)
    ]


def test_our_invoice_older_than_the_listed_window_is_not_called_missing():
    old = usage(InvoiceStatus.PAID)
    old.created_at = NOW - timedelta(days=90)
    window = StripeBooks(None, invoices=[], invoices_since=NOW - timedelta(days=30))
    assert kinds(books(invoices=[old]), window) == []
    recent = usage()
    assert kinds(books(invoices=[recent]), window) == [("in_1", DriftKind.MISSING_AT_STRIPE, None)]


def sub(sid: str, status: SubscriptionStatus, **fields) -> SubscriptionSnapshot:
    values = dict(
        stripe_subscription_id=sid,
        stripe_customer_id="cus_a",
        status=status,
        tier=None,
        stripe_price_id="price_pro",
        current_period_start=NOW,
        current_period_end=NOW + timedelta(days=30),
        cancel_at_period_end=False,
        canceled_at=None,
    )
    values.update(fields)
    return SubscriptionSnapshot(**values)


def test_a_second_subscription_still_incomplete_is_no_double_charge():
    mine = Subscription.from_snapshot(
        "org_a", replace(sub("sub_1", SubscriptionStatus.ACTIVE), tier=Tier.PRO), NOW
    )
    stripe = StripeBooks(
        None,
        subscriptions=[
            sub("sub_1", SubscriptionStatus.ACTIVE),
            sub("sub_2", SubscriptionStatus.INCOMPLETE),
        ],
    )
    found = kinds(books(subscriptions=[mine]), stripe)
    assert found == [
        ("sub_2", DriftKind.MISSING_LOCALLY, Repair("customer.subscription.updated", "sub_2"))
    ]


def test_a_subscription_of_a_customer_no_one_owns_is_reported_on_the_customer_once():
    stripe = StripeBooks(
        None,
        subscriptions=[
            sub("sub_x", SubscriptionStatus.ACTIVE, stripe_customer_id="cus_ghost"),
            sub("sub_y", SubscriptionStatus.CANCELED, stripe_customer_id="cus_ghost"),
        ],
    )
    assert kinds(books(), stripe) == [("cus_ghost", DriftKind.CUSTOMER_WITHOUT_ORGANIZATION, None)]
