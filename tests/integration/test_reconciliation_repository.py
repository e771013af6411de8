"""The reconciliation repository's contract: the same tests on Postgres, on the embedded SQLite
and on the in-memory fake the unit tests use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from domain.model.customers import StripeCustomer
from domain.model.invoicing import InvoiceLine, InvoiceStatus, UsageInvoice
from domain.model.money import Money
from domain.model.organizations import Organization
from domain.model.plans import Metric, Tier
from domain.model.purchases import OneTimePurchase, PurchaseStatus
from domain.model.reconciliation import (
    Drift,
    DriftAction,
    DriftKind,
    ObjectType,
    ReconciliationRun,
    Repair,
)
from domain.model.subscriptions import Subscription, SubscriptionStatus
from domain.model.webhooks import InboxEvent
from tests.unit.fakes import FakeUnitOfWorkFactory, UniqueViolation

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["postgres", "sqlite", "fake"])
def books_uow(request):
    if request.param == "fake":
        return FakeUnitOfWorkFactory()
    if request.param == "postgres":
        return request.getfixturevalue("uow_postgres")
    return request.getfixturevalue("sqlite_uow")


def a_run(run_id: str, minutes: int = 0, **kwargs) -> ReconciliationRun:
    return ReconciliationRun(run_id, NOW + timedelta(minutes=minutes), **kwargs)


def a_drift(run_id: str, object_id: str, kind=DriftKind.STATUS_DIFFERS, **kwargs) -> Drift:
    values = dict(
        org_id="org_a",
        object_type=ObjectType.SUBSCRIPTION,
        object_id=object_id,
        kind=kind,
        ours="active",
        theirs="canceled",
        repair=Repair("customer.subscription.updated", object_id),
        action=DriftAction.REPAIRED,
        first_seen_at=NOW,
        run_id=run_id,
    )
    values.update(kwargs)
    return Drift(**values)


def test_a_run_round_trips_and_the_latest_is_found(books_uow):
    with books_uow() as u:
        u.reconciliation.add_run(a_run("rec_1", fix=True, actor="cli:reconcile"))
    with books_uow() as u:
        assert u.reconciliation.get_run("rec_1") is None  # nothing kept without commit
    with books_uow() as u:
        first = a_run("rec_1", fix=True, actor="cli:reconcile")
        u.reconciliation.add_run(first)
        u.reconciliation.add_run(a_run("rec_2", minutes=5))
        u.commit()
    first.start(NOW + timedelta(minutes=1))
    first.events_since, first.events_until = NOW - timedelta(days=30), NOW
    first.counts.drifts, first.counts.events_recovered = 3, 2
    first.finish(NOW + timedelta(minutes=2))
    with books_uow() as u:
        u.reconciliation.save_run(first)
        u.commit()
    with books_uow() as u:
        assert u.reconciliation.get_run("rec_1") == first
        assert u.reconciliation.get_run("rec_1").started_at.tzinfo is not None
        assert u.reconciliation.latest_run().id == "rec_2"
        assert u.reconciliation.latest_run(finished=True).id == "rec_1"
        assert u.reconciliation.get_run("rec_nope") is None
    with pytest.raises((IntegrityError, UniqueViolation)), books_uow() as u:
        u.reconciliation.add_run(a_run("rec_1"))
        u.commit()


def test_drift_rows_are_kept_per_run_in_order_and_paged(books_uow):
    with books_uow() as u:
        u.reconciliation.add_run(a_run("rec_1"))
        u.reconciliation.add_drifts(
            [
                a_drift("rec_1", "sub_b"),
                a_drift("rec_1", "sub_a", DriftKind.PLAN_DIFFERS, repair=None, new=False),
                a_drift("rec_1", "sub_a", note="why", action=DriftAction.REPAIR_FAILED),
                a_drift("rec_1", "in_1", org_id=None, object_type=ObjectType.INVOICE),
            ]
        )
        u.commit()
    with books_uow() as u:
        rows = u.reconciliation.drifts_of("rec_1", 10)
        assert [(d.org_id, d.object_id, d.kind) for d in rows][1:] == [
            ("org_a", "sub_a", DriftKind.PLAN_DIFFERS),
            ("org_a", "sub_a", DriftKind.STATUS_DIFFERS),
            ("org_a", "sub_b", DriftKind.STATUS_DIFFERS),
        ]
        assert rows[0].org_id is None  # no organization sorts with the rest, in one place
        assert rows[1] == a_drift("rec_1", "sub_a", DriftKind.PLAN_DIFFERS, repair=None, new=False)
        assert rows[2].note == "why" and rows[2].action is DriftAction.REPAIR_FAILED
        assert rows[2].first_seen_at == NOW and rows[2].first_seen_at.tzinfo is not None
        assert [d.object_id for d in u.reconciliation.drifts_of("rec_1", 2, 2)] == [
            "sub_a",
            "sub_b",
        ]
        assert u.reconciliation.drifts_of("rec_other", 10) == []
    with pytest.raises((IntegrityError, UniqueViolation)), books_uow() as u:
        u.reconciliation.add_drifts([a_drift("rec_1", "sub_b")])  # same run, same key
        u.commit()


def test_last_seen_answers_each_keys_newest_row(books_uow):
    with books_uow() as u:
        for n in (1, 2, 3):
            u.reconciliation.add_run(a_run(f"rec_{n}", minutes=n))
        u.reconciliation.add_drifts(
            [
                a_drift("rec_1", "sub_a", action=DriftAction.REPORTED),
                a_drift("rec_3", "sub_a", first_seen_at=NOW, new=False),
                a_drift("rec_2", "sub_b", action=DriftAction.WOULD_REPAIR),
            ]
        )
        u.commit()
    key_a = a_drift("", "sub_a").key
    key_b = a_drift("", "sub_b").key
    with books_uow() as u:
        seen = u.reconciliation.last_seen([key_a, key_b, "subscription:sub_z:status_differs"])
    assert set(seen) == {key_a, key_b}
    assert (seen[key_a].run_id, seen[key_a].action) == ("rec_3", DriftAction.REPAIRED)
    assert (seen[key_b].run_id, seen[key_b].action) == ("rec_2", DriftAction.WOULD_REPAIR)


def test_books_read_every_organization_or_one(books_uow):
    with books_uow() as u:
        for org in ("org_a", "org_b"):
            u.organizations.add_if_absent(Organization.new(org, NOW))
            u.customers.add_if_absent(StripeCustomer(org, f"cus_{org}", None, None, NOW))
            u.subscriptions.save(
                Subscription(
                    org,
                    f"sub_{org}",
                    f"cus_{org}",
                    SubscriptionStatus.ACTIVE,
                    Tier.PRO,
                    "price_pro",
                    NOW,
                    NOW + timedelta(days=30),
                    False,
                    None,
                    NOW,
                )
            )
        sent = UsageInvoice.draft("inv_sent", "org_a", NOW, NOW, "usd")
        sent.bill(
            [
                InvoiceLine(
                    Metric.STT_WORDS, 2500, Money(250, "usd"), 2, NOW - timedelta(days=1), NOW
                )
            ]
        )
        sent.link_stripe("in_1", "https://invoice.stripe.com/i/in_1", NOW)
        sent.set_status(InvoiceStatus.OPEN, NOW)
        u.usage_invoices.add(sent)
        u.usage_invoices.add(UsageInvoice.draft("inv_local", "org_a", NOW, NOW, "usd"))
        u.purchases.add(
            OneTimePurchase(
                "p1",
                "org_b",
                Tier.WHITE_LABEL,
                Money(99900, "usd"),
                PurchaseStatus.PENDING,
                "cs_1",
                None,
                NOW,
            )
        )
        u.commit()
    with books_uow() as u:
        every = u.reconciliation.books(None)
        one = u.reconciliation.books("org_a")
    assert sorted(c.org_id for c in every.customers) == ["org_a", "org_b"]
    assert sorted(s.stripe_subscription_id for s in every.subscriptions) == [
        "sub_org_a",
        "sub_org_b",
    ]
    assert [i.id for i in every.invoices] == ["inv_sent"]  # never sent to Stripe: not compared
    assert [(line.metric, line.quantity, line.amount) for line in every.invoices[0].lines] == [
        (Metric.STT_WORDS, 2500, Money(250, "usd"))
    ]
    assert [p.id for p in every.purchases] == ["p1"]
    assert [c.org_id for c in one.customers] == ["org_a"] and one.purchases == []
    assert [s.org_id for s in one.subscriptions] == ["org_a"]


def test_the_inbox_newest_event_and_events_of_another_api_version(books_uow):
    with books_uow() as u:
        assert u.reconciliation.newest_event_at() is None
        for n, version in enumerate(("2026-10-28.endive", "2024-06-20", None, "2024-06-20")):
            u.inbox.add_if_absent(
                InboxEvent(
                    f"evt_{n}",
                    "invoice.paid",
                    {"data": {"object": {"id": "in_1"}}},
                    NOW + timedelta(minutes=n),
                    stripe_created_at=NOW - timedelta(hours=n),
                    api_version=version,
                )
            )
        u.commit()
    with books_uow() as u:
        assert u.reconciliation.newest_event_at() == NOW
        assert u.reconciliation.known_events(["evt_0", "evt_3", "evt_9", "evt_0"]) == {
            "evt_0",
            "evt_3",
        }
        assert u.reconciliation.known_events([]) == set()
        assert u.reconciliation.other_api_version_events(NOW, "2026-10-28.endive") == 2
        assert (
            u.reconciliation.other_api_version_events(
                NOW + timedelta(minutes=2), "2026-10-28.endive"
            )
            == 1
        )
