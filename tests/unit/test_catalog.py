import pytest

from domain.errors import UnknownPlan
from domain.model.money import Money
from domain.model.plans import Catalog, Interval, Metric, Tier, default_catalog, default_plans


def test_default_catalog_matches_the_plan_table():
    catalog = default_catalog()
    expected = {
        Tier.FREE: (0, Interval.MONTH, 100, 5),
        Tier.STARTER: (2900, Interval.MONTH, 5_000, 5),
        Tier.PRO: (9900, Interval.MONTH, 100_000, None),
        Tier.ENTERPRISE: (29900, Interval.MONTH, None, None),
        Tier.WHITE_LABEL: (99900, Interval.ONE_TIME, None, None),
    }
    for tier, (price, interval, queries, documents) in expected.items():
        plan = catalog.get(tier)
        assert plan.price == Money(price, "usd")
        assert plan.interval is interval
        assert plan.quota(Metric.QUERIES).limit == queries
        assert plan.quota(Metric.DOCUMENTS).limit == documents


def test_basic_is_an_alias_of_starter_and_names_are_case_insensitive():
    catalog = default_catalog()
    assert catalog.get("basic").tier is Tier.STARTER
    assert catalog.get(" Pro ").tier is Tier.PRO


def test_unknown_plan_is_a_domain_error_with_a_stable_code():
    with pytest.raises(UnknownPlan) as info:
        default_catalog().get("platinum")
    assert info.value.code == "unknown_plan"
    assert "starter" in info.value.message


def test_voice_metrics_are_never_limited():
    for plan in default_catalog().plans():
        assert plan.quota(Metric.STT_WORDS).unlimited
        assert plan.quota(Metric.TTS_WORDS).unlimited


def test_quota_remaining():
    free = default_catalog().get("free")
    assert free.quota(Metric.QUERIES).remaining(40) == 60
    assert free.quota(Metric.QUERIES).remaining(140) == 0
    assert default_catalog().get("enterprise").quota(Metric.QUERIES).remaining(10**9) is None


def test_one_time_plans_add_nothing_to_monthly_revenue():
    catalog = default_catalog()
    assert catalog.get("white_label").monthly_price() == Money(0, "usd")
    assert catalog.get("pro").monthly_price() == Money(9900, "usd")


def test_catalog_refuses_a_default_tier_it_does_not_sell():
    plans = [p for p in default_plans() if p.tier is not Tier.FREE]
    with pytest.raises(UnknownPlan):
        Catalog(plans, Tier.FREE)
    assert Catalog(plans, Tier.STARTER).default.tier is Tier.STARTER


def test_metric_kinds():
    assert Metric.DOCUMENTS.is_gauge
    assert not Metric.QUERIES.is_gauge
    assert Metric.STT_WORDS.is_voice and Metric.TTS_WORDS.is_voice


def test_an_operator_catalog_file(tmp_path):
    import json

    from entrypoints.catalog_file import load_catalog

    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            {
                "default_tier": "free",
                "plans": [
                    {"tier": "free", "price": "0.00", "queries": 1000, "documents": 5},
                    {
                        "tier": "basic",
                        "name": "Basic",
                        "price": "19.50",
                        "queries": 20000,
                        "documents": None,
                        "features": ["email support"],
                        "aliases": ["basic"],
                    },
                ],
            }
        )
    )
    catalog = load_catalog(path, "free")
    assert catalog.default.quota(Metric.QUERIES).limit == 1000
    starter = catalog.get("basic")
    assert starter.price == Money(1950, "usd") and starter.quota(Metric.DOCUMENTS).unlimited
    with pytest.raises(UnknownPlan):
        catalog.get("pro")


def test_first_subscription_period_keeps_the_months_usage():
    from datetime import UTC, datetime, timedelta

    from domain.model.entitlements import Entitlement, EntitlementSource
    from domain.model.quotas import billing_period, calendar_month
    from domain.model.subscriptions import Subscription, SubscriptionStatus

    now = datetime(2026, 11, 15, 12, tzinfo=UTC)
    sub = Subscription(
        "o",
        "s",
        "c",
        SubscriptionStatus.ACTIVE,
        Tier.PRO,
        "p",
        now,
        now + timedelta(days=30),
        False,
        None,
        now,
        started_at=now,
    )
    pro = default_catalog().get("pro")
    assert billing_period(Entitlement(pro, EntitlementSource.SUBSCRIPTION, sub), now) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        now + timedelta(days=30),
    )
    renewed = Subscription(
        "o",
        "s",
        "c",
        SubscriptionStatus.ACTIVE,
        Tier.PRO,
        "p",
        now + timedelta(days=30),
        now + timedelta(days=60),
        False,
        None,
        now,
        started_at=now,
    )
    later = now + timedelta(days=31)
    assert billing_period(Entitlement(pro, EntitlementSource.SUBSCRIPTION, renewed), later) == (
        now + timedelta(days=30),
        now + timedelta(days=60),
    )
    default = Entitlement(default_catalog().default, EntitlementSource.DEFAULT)
    assert billing_period(default, later) == calendar_month(later)
    assert calendar_month(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
