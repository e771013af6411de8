"""Analytics on a seeded history (three months, several plans, upgrades, cancellations, a failed
payment, usage invoices); every figure is worked out by hand below."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from entrypoints.api.app import create_app
from tests.helpers import bearer


def at(day: str, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


ORGS = {
    "A": "2026-06-01",
    "B": "2026-08-05",
    "C": "2026-07-01",
    "D": "2026-09-01",
    "E": "2026-10-20",
    "F": "2026-07-15",
}
# (org, subscription, day, status, tier, monthly amount in cents)
HISTORY = [
    ("A", "sA", "2026-06-01", "active", "starter", 2900),
    ("A", "sA", "2026-09-10", "active", "pro", 9900),  # upgrade
    ("B", "sB", "2026-08-10", "active", "pro", 9900),
    ("B", "sB", "2026-09-20", "past_due", "pro", 9900),  # failed payment: still MRR
    ("B", "sB", "2026-10-15", "canceled", "pro", 9900),
    ("C", "sC", "2026-07-01", "active", "enterprise", 29900),
    ("C", "sC", "2026-10-05", "active", "pro", 9900),  # downgrade
    ("E", "sE", "2026-10-20", "trialing", "starter", 2900),  # trial: not revenue yet
    ("F", "sF", "2026-07-15", "active", "starter", 2900),
    ("F", "sF", "2026-08-20", "canceled", "starter", 2900),  # churned
]
# (id, org, created, total in cents, status)
INVOICES = [
    ("inv1", "A", "2026-08-31", 1500, "paid"),
    ("inv2", "B", "2026-09-30", 2500, "open"),
    ("inv3", "C", "2026-10-31", 700, "void"),
    ("inv4", "A", "2026-07-31", 999, "paid"),
]
# (id, org, tier, created, status)
CHECKOUTS = [
    ("k1", "B", "pro", "2026-08-09", "complete"),
    ("k2", "A", "pro", "2026-09-09", "complete"),
    ("k3", "E", "starter", "2026-10-19", "expired"),
    ("k4", "E", "starter", "2026-10-19", "complete"),
    ("k5", "C", "pro", "2026-07-30", "complete"),
]
# (org, when, queries)
QUERIES = [
    ("A", at("2026-08-03", 10, 15), 3000),
    ("A", at("2026-09-14", 10, 40), 2000),
    ("C", at("2026-10-07", 15), 500),
    ("D", at("2026-09-02", 10, 5), 90),
    ("E", at("2026-10-25", 9), 4600),
    ("A", at("2026-07-20", 12), 999),
]

PERIOD = "from=2026-08-01T00:00:00Z&to=2026-11-01T00:00:00Z&interval=month"


@pytest.fixture
def seeded(settings, clean_db, clean_redis):
    with clean_db.begin() as conn:
        for org, day in ORGS.items():
            conn.execute(
                text("INSERT INTO organizations (id, created_at) VALUES (:o, :t)"),
                {"o": org, "t": at(day)},
            )
        for org, sub, day, status, tier, amount in HISTORY:
            conn.execute(
                text(
                    "INSERT INTO subscription_history (org_id, stripe_subscription_id, at, status, "
                    "tier, monthly_amount_minor, currency) VALUES (:o, :s, :t, :st, :tier, :a, "
                    "'usd')"
                ),
                {"o": org, "s": sub, "t": at(day), "st": status, "tier": tier, "a": amount},
            )
        for inv, org, day, total, status in INVOICES:
            conn.execute(
                text(
                    "INSERT INTO usage_invoices (id, org_id, status, period_start, period_end, "
                    "total_minor, currency, created_at, updated_at) VALUES (:i, :o, :st, :t, :t, "
                    ":total, 'usd', :t, :t)"
                ),
                {"i": inv, "o": org, "st": status, "t": at(day), "total": total},
            )
        conn.execute(
            text(
                "INSERT INTO one_time_purchases (id, org_id, tier, amount_minor, currency, status, "
                "created_at, paid_at) VALUES ('p1', 'D', 'white_label', 99900, 'usd', 'paid', "
                ":t, :t)"
            ),
            {"t": at("2026-09-15")},
        )
        for key, org, tier, day, status in CHECKOUTS:
            conn.execute(
                text(
                    "INSERT INTO checkout_sessions (id, org_id, tier, mode, status, "
                    "stripe_checkout_session_id, created_at) "
                    "VALUES (:k, :o, :tier, 'subscription', :st, :k, :t)"
                ),
                {"k": key, "o": org, "tier": tier, "st": status, "t": at(day)},
            )
        for n, (org, when, amount) in enumerate(QUERIES):
            conn.execute(
                text(
                    "INSERT INTO usage_events (entry_id, org_id, metric, quantity, occurred_at, "
                    "received_at, source) VALUES (:e, :o, 'queries', :a, :t, :t, 'consumed')"
                ),
                {"e": f"{n}-0", "o": org, "a": amount, "t": when},
            )
    app = create_app(settings)
    yield app.test_client()
    app.extensions["billing"].engine.dispose()


def report(client, name: str) -> dict:
    response = client.get(
        f"/api/v1/admin/analytics/{name}?{PERIOD}&top=3", headers=bearer("ops", "platform_admin")
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["report"]


def test_revenue(seeded):
    r = report(seeded, "revenue")
    # At Nov 1: A pro 99.00 + C pro 99.00 (B canceled, E trialing) = 198.00
    assert r["mrr_minor"] == 19_800 and r["arr_minor"] == 237_600
    assert r["by_plan"] == {"pro": {"mrr_minor": 19_800, "subscriptions": 2}}
    assert r["paying_organizations"] == 2 and r["arpu_minor"] == 9_900
    assert r["usage_revenue_minor"] == 4_000  # inv1 + inv2 (inv3 void, inv4 before)
    assert r["one_time_revenue_minor"] == 99_900
    series = [
        (b["mrr_minor"], b["usage_revenue_minor"], b["one_time_revenue_minor"]) for b in r["series"]
    ]
    # MRR at Sep 1: A 29 + B 99 + C 299 = 427; Oct 1: A 99 + B 99 (past due) + C 299 = 497
    assert series == [(42_700, 1_500, 0), (49_700, 2_500, 99_900), (19_800, 0, 0)]


def test_churn_and_clv(seeded):
    r = report(seeded, "churn")
    # Paying at Aug 1: A starter, C enterprise, F starter; at Nov 1: A, C. F churned.
    assert r["by_plan"] == {
        "enterprise": {
            "organizations_at_start": 1,
            "churned": 0,
            "logo_churn": 0.0,
            "mrr_at_start_minor": 29_900,
            "mrr_churned_minor": 0,
            "revenue_churn": 0.0,
        },
        "starter": {
            "organizations_at_start": 2,
            "churned": 1,
            "logo_churn": 0.5,
            "mrr_at_start_minor": 5_800,
            "mrr_churned_minor": 2_900,
            "revenue_churn": 0.5,
        },
    }
    assert r["logo_churn"] == 0.3333
    # 92 days: monthly churn = 1/3 x 30 / 92 = 0.108696; CLV = 99.00 / 0.108696 = 910.80
    assert r["monthly_logo_churn"] == 0.1087
    assert r["arpu_minor"] == 9_900 and r["clv_minor"] == 91_080


def test_conversion(seeded):
    r = report(seeded, "conversion")
    assert r["checkout_by_plan"] == {
        "pro": {"created": 2, "completed": 2, "completion_rate": 1.0},
        "starter": {"created": 2, "completed": 1, "completion_rate": 0.5},
    }
    # Created in the period: B (paid), D (white-label only), E (trial) → 1 of 3
    assert (r["signups"], r["converted_to_paid"], r["free_to_paid"]) == (3, 1, 0.3333)
    # A starter→pro up, C enterprise→pro down; 3 paying subscriptions at Aug 1
    assert (r["upgrades"], r["downgrades"]) == (1, 1)
    assert r["upgrade_rate"] == r["downgrade_rate"] == 0.3333


def test_usage(seeded):
    r = report(seeded, "usage")
    assert r["top_workspaces"] == [
        {"org_id": "A", "queries": 5000},
        {"org_id": "E", "queries": 4600},
        {"org_id": "C", "queries": 500},
    ]
    hours = r["by_hour_of_day"]
    assert (hours[9], hours[10], hours[15], sum(hours)) == (4600, 5090, 500, 10_190)
    assert r["by_day_of_week"] == [5000, 0, 590, 0, 0, 0, 4600]  # Mon..Sun
    # At Nov 1: A and C on pro (100,000: 5% and 0.5%); D (90 of 100) and E (trialing, so
    # free: 4,600 of 100) on free.
    assert r["quota_utilization"]["pro"] == {
        "organizations": 2,
        "limit": 100_000,
        "above_50": 0,
        "above_80": 0,
        "above_100": 0,
        "share_above_50": 0.0,
        "share_above_80": 0.0,
        "share_above_100": 0.0,
    }
    assert r["quota_utilization"]["free"] == {
        "organizations": 2,
        "limit": 100,
        "above_50": 2,
        "above_80": 2,
        "above_100": 1,
        "share_above_50": 1.0,
        "share_above_80": 1.0,
        "share_above_100": 0.5,
    }


def test_charts_are_svg_and_admin_only(seeded):
    response = seeded.get(
        f"/api/v1/admin/analytics/charts/mrr.svg?{PERIOD}", headers=bearer("ops", "platform_admin")
    )
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg") and svg.count("<circle") == 3 and "2026-08" in svg
    assert (
        seeded.get(
            f"/api/v1/admin/analytics/revenue?{PERIOD}", headers=bearer("org_a", "owner")
        ).status_code
        == 403
    )
    assert (
        seeded.get(
            "/api/v1/admin/analytics/revenue?from=2026-11-01T00:00:00Z&to=2026-08-01T00:00:00Z",
            headers=bearer("ops", "platform_admin"),
        ).status_code
        == 422
    )


def test_the_operators_organizations_are_not_customers(seeded, clean_db):
    """An organization created in the period and then seen with a platform_admin token is the
    operator's own: the sign-ups and usage by organization leave it out."""
    with clean_db.begin() as conn:
        conn.execute(
            text("INSERT INTO organizations (id, created_at) VALUES ('ops_team', :t)"),
            {"t": at("2026-09-01")},
        )
        conn.execute(
            text(
                "INSERT INTO usage_events (org_id, metric, quantity, occurred_at, received_at, "
                "idempotency_key, source) VALUES ('ops_team', 'queries', 10000, :t, :t, 'k', "
                "'recorded')"
            ),
            {"t": at("2026-09-02")},
        )
    before = report(seeded, "conversion")
    assert before["signups"] == 4  # not known as the operator's yet
    seeded.get(
        f"/api/v1/admin/analytics/conversion?{PERIOD}", headers=bearer("ops_team", "platform_admin")
    )
    after = report(seeded, "conversion")
    assert (after["signups"], after["converted_to_paid"], after["free_to_paid"]) == (3, 1, 0.3333)
    usage = report(seeded, "usage")
    assert "ops_team" not in json.dumps(usage)
    with clean_db.connect() as conn:
        flags = dict(conn.execute(text("SELECT id, operator FROM organizations")).all())
    assert flags["ops_team"] and flags["ops"] and not flags["B"]
