"""Which plan an organization is entitled to, and over which period its quotas count: each rule
of the order (purchase, dunning, subscription, grace period, default) at its boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.model.entitlements import Entitlement, EntitlementSource, entitlement_for
from domain.model.invoicing import InvoiceStatus, UsageInvoice
from domain.model.money import Money
from domain.model.plans import Catalog, Metric, Tier, default_catalog, default_plans
from domain.model.purchases import OneTimePurchase, PurchaseStatus
from domain.model.quotas import (
    GAUGE_PERIOD_END,
    GAUGE_PERIOD_START,
    QuotaDecision,
    QuotaWindow,
    billing_period,
    calendar_month,
)
from domain.model.subscriptions import Subscription, SubscriptionStatus
from domain.services.standing import current_entitlement
from tests.unit.fakes import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=3)
CATALOG = default_catalog()


def sub(
    status=SubscriptionStatus.ACTIVE,
    tier: Tier | None = Tier.PRO,
    sid="sub_1",
    start=datetime(2026, 11, 10, tzinfo=UTC),
    end=datetime(2026, 12, 10, tzinfo=UTC),
    updated_at=NOW - timedelta(days=1),
    past_due_since=None,
    started_at=None,
):
    return Subscription(
        "org_a",
        sid,
        "cus_1",
        status,
        tier,
        "price_1",
        start,
        end,
        False,
        None,
        updated_at,
        past_due_since=past_due_since,
        started_at=started_at,
    )


def purchase(status=PurchaseStatus.PAID, tier=Tier.WHITE_LABEL):
    return OneTimePurchase(
        "pur_1", "org_a", tier, Money(99900, "usd"), status, "cs_1", None, NOW - timedelta(days=30)
    )


def entitled(subs=(), purchases=(), overdue=False, catalog=CATALOG, now=NOW):
    return entitlement_for(catalog, subs, purchases, now, GRACE, usage_overdue=overdue)


def test_a_paid_purchase_wins_over_dunning_and_subscriptions():
    got = entitled([sub()], [purchase()], overdue=True)
    assert got == Entitlement(CATALOG.get(Tier.WHITE_LABEL), "purchase")


def test_an_unpaid_purchase_or_one_of_a_plan_off_sale_grants_nothing():
    assert entitled([], [purchase(PurchaseStatus.PENDING)]).source == "default"
    no_white_label = Catalog([p for p in default_plans() if p.tier is not Tier.WHITE_LABEL])
    got = entitled([sub()], [purchase()], catalog=no_white_label)
    assert (got.plan.tier, got.source) == (Tier.PRO, "subscription")


def test_overdue_usage_drops_to_the_default_plan_keeping_the_subscription():
    active = sub()
    assert entitled([active], overdue=True) == Entitlement(CATALOG.default, "dunning", active)
    assert entitled([], overdue=True) == Entitlement(CATALOG.default, "dunning", None)


@pytest.mark.parametrize("status", [SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING])
def test_an_active_or_trialing_subscription_gives_its_plan(status):
    current = sub(status)
    assert entitled([current]) == Entitlement(CATALOG.get(Tier.PRO), "subscription", current)


def test_subscriptions_without_a_plan_on_sale_are_passed_over_for_the_next():
    no_tier, off_sale, starter = (
        sub(tier=None, sid="a"),
        sub(sid="b"),
        sub(tier=Tier.STARTER, sid="c"),
    )
    no_pro = Catalog([p for p in default_plans() if p.tier is not Tier.PRO])
    got = entitled([no_tier, off_sale, starter], catalog=no_pro)
    assert got == Entitlement(no_pro.get(Tier.STARTER), "subscription", starter)


def test_past_due_keeps_the_plan_until_the_grace_period_ends():
    since = NOW - GRACE
    late = sub(SubscriptionStatus.PAST_DUE, past_due_since=since, updated_at=NOW)
    assert entitled([late], now=NOW - timedelta(seconds=1)) == Entitlement(
        CATALOG.get(Tier.PRO), "grace_period", late
    )
    assert entitled([late], now=NOW) == Entitlement(CATALOG.default, "default", late)


def test_past_due_without_a_recorded_start_counts_from_the_last_update():
    late = sub(SubscriptionStatus.PAST_DUE, updated_at=NOW - timedelta(days=1))
    assert entitled([late]).source == "grace_period"
    assert entitled([sub(SubscriptionStatus.PAST_DUE, updated_at=NOW - GRACE)]).source == "default"


@pytest.mark.parametrize(
    "status",
    [SubscriptionStatus.CANCELED, SubscriptionStatus.UNPAID, SubscriptionStatus.INCOMPLETE],
)
def test_other_states_fall_back_to_the_default_plan(status):
    ended, older = sub(status, sid="new"), sub(SubscriptionStatus.CANCELED, sid="old")
    assert entitled([ended, older]) == Entitlement(CATALOG.default, "default", ended)
    assert entitled([]) == Entitlement(CATALOG.default, "default", None)


def test_standing_counts_only_this_organizations_usage_invoices_overdue_beyond_grace():
    uow_factory = FakeUnitOfWorkFactory()
    with uow_factory() as uow:
        uow.subscriptions.save(sub())
        for org, since in (("org_a", NOW - GRACE + timedelta(seconds=1)), ("org_b", NOW - GRACE)):
            invoice = UsageInvoice.draft(f"uinv_{org}", org, NOW, NOW, "usd")
            invoice.set_status(InvoiceStatus.PAST_DUE, since)
            uow.usage_invoices.add(invoice)
        uow.commit()
    with uow_factory() as uow:
        assert current_entitlement(uow, CATALOG, "org_a", NOW, GRACE).source == "subscription"
        assert (
            current_entitlement(uow, CATALOG, "org_a", NOW + timedelta(seconds=1), GRACE).source
            == "dunning"
        )


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        (
            datetime(2026, 11, 15, tzinfo=UTC),
            datetime(2026, 11, 1, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
        ),
        (
            datetime(2027, 1, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
            datetime(2027, 2, 1, tzinfo=UTC),
        ),
    ],
)
def test_the_calendar_month_in_utc(now, start, end):
    assert calendar_month(now) == (start, end)
    assert calendar_month(now)[0].tzinfo is UTC and calendar_month(now)[1].tzinfo is UTC


@pytest.mark.parametrize("source", ["subscription", "grace_period"])
def test_quotas_count_over_the_subscriptions_current_period(source):
    current = sub()
    entitlement = Entitlement(CATALOG.get(Tier.PRO), EntitlementSource(source), current)
    period = (current.current_period_start, current.current_period_end)
    assert billing_period(entitlement, current.current_period_start) == period
    assert billing_period(entitlement, current.current_period_end - timedelta(seconds=1)) == period
    # At the period's end (half-open) Stripe has not renewed it yet: the calendar month.
    assert billing_period(entitlement, current.current_period_end) == calendar_month(
        current.current_period_end
    )


def test_without_a_paying_subscription_quotas_count_over_the_calendar_month():
    current = sub()
    for source in ("default", "dunning"):
        assert billing_period(
            Entitlement(CATALOG.default, EntitlementSource(source), current), NOW
        ) == calendar_month(NOW)
    assert billing_period(
        Entitlement(CATALOG.get(Tier.PRO), EntitlementSource.SUBSCRIPTION, None), NOW
    ) == calendar_month(NOW)
    no_period = sub(start=None, end=None)
    assert billing_period(
        Entitlement(CATALOG.get(Tier.PRO), EntitlementSource.SUBSCRIPTION, no_period), NOW
    ) == calendar_month(NOW)


def test_the_first_period_counts_from_the_start_of_its_calendar_month():
    started = datetime(2026, 11, 10, tzinfo=UTC)
    first = sub(started_at=started)
    entitlement = Entitlement(CATALOG.get(Tier.PRO), EntitlementSource.SUBSCRIPTION, first)
    assert billing_period(entitlement, NOW) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        first.current_period_end,
    )
    renewed = sub(started_at=started - timedelta(days=30))
    assert billing_period(
        Entitlement(CATALOG.get(Tier.PRO), EntitlementSource.SUBSCRIPTION, renewed), NOW
    ) == (renewed.current_period_start, renewed.current_period_end)


def test_a_window_carries_the_plans_limits_and_the_period():
    current = sub(tier=Tier.STARTER)
    window = QuotaWindow.for_entitlement(
        "org_a",
        Entitlement(CATALOG.get(Tier.STARTER), EntitlementSource.SUBSCRIPTION, current),
        NOW,
    )
    assert window == QuotaWindow(
        "org_a",
        "starter",
        current.current_period_start,
        current.current_period_end,
        {
            Metric.QUERIES: 5_000,
            Metric.DOCUMENTS: 5,
            Metric.STT_WORDS: None,
            Metric.TTS_WORDS: None,
        },
    )
    assert window.period_for(Metric.QUERIES) == (window.period_start, window.period_end)
    assert window.period_for(Metric.DOCUMENTS) == (GAUGE_PERIOD_START, GAUGE_PERIOD_END)


@pytest.mark.parametrize(
    ("used", "limit", "remaining"),
    [(0, 100, 100), (99, 100, 1), (100, 100, 0), (120, 100, 0), (5, None, None), (None, 100, None)],
)
def test_remaining_is_never_negative_and_unknown_without_a_limit(used, limit, remaining):
    decision = QuotaDecision(True, Metric.QUERIES, used, limit, None)
    assert decision.remaining == remaining
