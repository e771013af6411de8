"""The billing words each rule is written in once, in the domain: Stripe's invoice statuses as
ours, where a plan comes from, which subscription states are revenue."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest

from adapters.db import analytics as sql_analytics
from domain.model.entitlements import EntitlementSource, entitlement_for
from domain.model.invoicing import InvoiceStatus, UsageInvoice, status_from_stripe
from domain.model.payments import CheckoutSession
from domain.model.plans import Tier, default_catalog
from domain.model.subscriptions import PAYING_STATES, Subscription, SubscriptionStatus

NOW = datetime(2026, 11, 15, tzinfo=UTC)


@pytest.mark.parametrize("unpaid", [InvoiceStatus.OPEN, InvoiceStatus.PAST_DUE])
def test_a_paid_stripe_invoice_is_paid_whatever_the_occasion(unpaid):
    assert status_from_stripe("paid", unpaid) is InvoiceStatus.PAID


@pytest.mark.parametrize("stripe_status", ["open", "uncollectible", "draft", None])
def test_an_unpaid_stripe_invoice_takes_the_occasions_status(stripe_status):
    assert status_from_stripe(stripe_status, InvoiceStatus.OPEN) is InvoiceStatus.OPEN
    assert status_from_stripe(stripe_status, InvoiceStatus.PAST_DUE) is InvoiceStatus.PAST_DUE


def test_an_invoice_follows_stripe_and_says_when_it_changed():
    invoice = UsageInvoice.draft("uinv_1", "org_a", NOW, NOW, "usd")
    assert invoice.follow_stripe("open", InvoiceStatus.OPEN, NOW) is True
    assert invoice.follow_stripe("open", InvoiceStatus.OPEN, NOW) is False
    assert invoice.follow_stripe("open", InvoiceStatus.PAST_DUE, NOW) is True
    assert invoice.past_due_since == NOW
    assert invoice.follow_stripe("paid", InvoiceStatus.PAST_DUE, NOW) is True
    assert invoice.status is InvoiceStatus.PAID and invoice.past_due_since is None


@pytest.mark.parametrize(
    ("payment_status", "paid"),
    [("paid", True), ("unpaid", False), ("no_payment_required", False), (None, False)],
)
def test_a_checkout_session_is_paid_only_when_stripe_says_paid(payment_status, paid):
    assert CheckoutSession("cs_1", None, payment_status=payment_status).paid is paid


def test_revenue_is_active_and_past_due_only():
    assert PAYING_STATES == {SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE}
    assert [s for s in SubscriptionStatus if s.is_paying] == [
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
    ]


def test_the_analytics_sql_binds_the_domains_paying_states():
    assert sql_analytics.PAYING == sorted(s.value for s in PAYING_STATES)
    source = inspect.getsource(sql_analytics)
    assert "'active'" not in source and "'past_due'" not in source


def subscription(status: SubscriptionStatus, updated: datetime = NOW) -> Subscription:
    return Subscription(
        "org_a",
        "sub_1",
        "cus_1",
        status,
        Tier.PRO,
        "price_pro",
        NOW - timedelta(days=1),
        NOW + timedelta(days=29),
        False,
        None,
        updated,
    )


@pytest.mark.parametrize(
    ("status", "updated", "source"),
    [
        (SubscriptionStatus.ACTIVE, NOW, EntitlementSource.SUBSCRIPTION),
        (SubscriptionStatus.TRIALING, NOW, EntitlementSource.SUBSCRIPTION),
        (SubscriptionStatus.PAST_DUE, NOW, EntitlementSource.GRACE_PERIOD),
        (SubscriptionStatus.PAST_DUE, NOW - timedelta(days=30), EntitlementSource.DEFAULT),
        (SubscriptionStatus.CANCELED, NOW, EntitlementSource.DEFAULT),
    ],
)
def test_each_entitlement_names_its_source(status, updated, source):
    entitlement = entitlement_for(
        default_catalog(), [subscription(status, updated)], [], NOW, timedelta(days=7)
    )
    assert entitlement.source is source


def test_overdue_usage_is_dunning_and_only_subscriptions_set_the_quota_period():
    entitlement = entitlement_for(
        default_catalog(),
        [subscription(SubscriptionStatus.ACTIVE)],
        [],
        NOW,
        timedelta(days=7),
        usage_overdue=True,
    )
    assert entitlement.source is EntitlementSource.DUNNING
    assert {s for s in EntitlementSource if s.follows_subscription} == {
        EntitlementSource.SUBSCRIPTION,
        EntitlementSource.GRACE_PERIOD,
    }
