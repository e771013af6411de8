"""Repositories and the unit of work: one contract, the same tests on Postgres, on the embedded
SQLite and on the in-memory fake the unit tests use."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from domain.model.customers import StripeCustomer
from domain.model.invoicing import InvoiceStatus, UsageInvoice, UsagePrice
from domain.model.metering import UsageEvent, UsageSource
from domain.model.money import Money
from domain.model.organizations import Organization
from domain.model.plans import Metric, Tier
from domain.model.purchases import OneTimePurchase, PurchaseStatus
from domain.model.subscriptions import Subscription, SubscriptionStatus
from domain.model.webhooks import InboxEvent, InboxStatus
from tests.unit.fakes import FakeUnitOfWorkFactory, UniqueViolation

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
PRICE = UsagePrice(Decimal("1.00"))


@pytest.fixture(params=["postgres", "sqlite", "fake"])
def uow(request, tmp_path):
    """The same contract for the real unit of work on both databases and for the fake."""
    if request.param == "fake":
        return FakeUnitOfWorkFactory()
    if request.param == "postgres":
        return request.getfixturevalue("uow_postgres")
    return request.getfixturevalue("sqlite_uow")


def add_org(uow_factory, org_id: str = "org_a") -> None:
    with uow_factory() as uow:
        uow.organizations.add_if_absent(Organization.new(org_id, NOW))
        uow.commit()


def event(key: str, org_id: str = "org_a", minutes: int = 0, quantity: int = 10) -> UsageEvent:
    return UsageEvent(
        org_id,
        Metric.STT_WORDS,
        quantity,
        NOW + timedelta(minutes=minutes),
        key,
        NOW,
        conversation_id="c-17",
    )


def test_nothing_is_kept_without_commit(uow):
    with uow() as u:
        u.organizations.add_if_absent(Organization.new("org_a", NOW))
    with uow() as u:
        assert u.organizations.get("org_a") is None


def test_an_exception_rolls_back_everything(uow):
    with pytest.raises(RuntimeError), uow() as u:
        u.organizations.add_if_absent(Organization.new("org_a", NOW))
        u.organizations.add_if_absent(Organization.new("org_b", NOW))
        raise RuntimeError("midway")
    with uow() as u:
        assert u.organizations.get("org_a") is None and u.organizations.get("org_b") is None


def test_organization_insert_if_absent(uow):
    with uow() as u:
        assert u.organizations.add_if_absent(Organization.new("org_a", NOW))
        assert not u.organizations.add_if_absent(Organization.new("org_a", NOW + timedelta(1)))
        u.commit()
    with uow() as u:
        org = u.organizations.get("org_a")
    assert org.created_at == NOW and org.created_at.tzinfo is not None
    assert org.operator is False


def test_an_organization_becomes_the_operators_once_marked(uow):
    with uow() as u:
        u.organizations.add_if_absent(Organization.new("org_a", NOW))
        u.organizations.add_if_absent(Organization.new("ops", NOW, operator=True))
        u.organizations.mark_operator("org_a")
        u.organizations.mark_operator("missing")  # nothing to mark: nothing happens
        u.commit()
    with uow() as u:
        u.organizations.mark_operator("org_b")
        u.rollback()
    with uow() as u:
        assert u.organizations.get("org_a").operator and u.organizations.get("ops").operator
        assert u.organizations.get("missing") is None


def test_customer_round_trip_and_uniqueness(uow):
    add_org(uow)
    add_org(uow, "org_b")
    with uow() as u:
        customer = StripeCustomer("org_a", "cus_1", "a@example.com", "A", NOW)
        assert u.customers.add_if_absent(customer)
        assert not u.customers.add_if_absent(StripeCustomer("org_a", "cus_2", None, None, NOW))
        u.commit()
    with uow() as u:
        customer = u.customers.for_org("org_a")
        assert customer == StripeCustomer("org_a", "cus_1", "a@example.com", "A", NOW)
        assert u.customers.by_stripe_id("cus_1").org_id == "org_a"
        customer.update_contact("new@example.com", None)
        u.customers.save(customer)
        u.commit()
    with uow() as u:
        assert u.customers.for_org("org_a").email == "new@example.com"
    with pytest.raises((IntegrityError, UniqueViolation)), uow() as u:
        u.customers.add_if_absent(StripeCustomer("org_b", "cus_1", None, None, NOW))  # same id


def test_subscription_save_inserts_then_updates(uow):
    add_org(uow)
    sub = Subscription(
        "org_a",
        "sub_1",
        "cus_1",
        SubscriptionStatus.INCOMPLETE,
        Tier.PRO,
        "price_pro",
        NOW,
        NOW + timedelta(days=30),
        False,
        None,
        NOW,
    )
    with uow() as u:
        u.subscriptions.save(sub)
        u.commit()
    sub.status = SubscriptionStatus.ACTIVE
    sub.updated_at = NOW + timedelta(minutes=5)
    with uow() as u:
        u.subscriptions.save(sub)
        u.commit()
    with uow() as u:
        assert u.subscriptions.get("sub_1") == sub
        assert [s.stripe_subscription_id for s in u.subscriptions.for_org("org_a")] == ["sub_1"]
        assert u.subscriptions.for_org("org_b") == []


def test_purchase_round_trip(uow):
    add_org(uow)
    purchase = OneTimePurchase(
        "p1",
        "org_a",
        Tier.WHITE_LABEL,
        Money(99900, "usd"),
        PurchaseStatus.PENDING,
        "cs_1",
        None,
        NOW,
    )
    with uow() as u:
        u.purchases.add(purchase)
        u.commit()
    with uow() as u:
        stored = u.purchases.by_checkout_session("cs_1")
        assert stored == purchase
        assert stored.mark_paid("pi_1", NOW)
        u.purchases.save(stored)
        u.commit()
    with uow() as u:
        assert u.purchases.for_org("org_a")[0].status is PurchaseStatus.PAID


def test_usage_events_are_stored_once_per_org_metric_and_key(uow):
    add_org(uow)
    add_org(uow, "org_b")
    with uow() as u:
        stored = u.usage_events.add_if_absent([event("k1"), event("k2"), event("k1")])
        assert sorted(e.idempotency_key for e in stored) == ["k1", "k2"]
        assert len(u.usage_events.add_if_absent([event("k2"), event("k3")])) == 1
        assert len(u.usage_events.add_if_absent([event("k1", org_id="org_b")])) == 1  # tenant
        tts = replace(event("k1"), metric=Metric.TTS_WORDS)
        assert len(u.usage_events.add_if_absent([tts])) == 1  # another metric's key space
        u.commit()
    with uow() as u:
        totals = u.usage_events.unbilled_totals(
            "org_a", NOW + timedelta(hours=1), [Metric.STT_WORDS]
        )
        by_conversation = u.usage_events.summary(
            "org_a", NOW, NOW + timedelta(hours=1), "conversation"
        )
        assert u.usage_events.total("org_a", Metric.STT_WORDS, NOW, None) == 30
    assert [(t.events, t.quantity) for t in totals] == [(3, 30)]
    assert [(t.group, t.metric, t.events) for t in by_conversation] == [
        ("c-17", Metric.STT_WORDS, 3),
        ("c-17", Metric.TTS_WORDS, 1),
    ]


def test_counter_entries_are_stored_once_by_entry_id(uow):
    add_org(uow)
    consumed = replace(
        event("k9"), idempotency_key=None, entry_id="17-0", source=UsageSource.CONSUMED
    )
    with uow() as u:
        assert len(u.usage_events.add_if_absent([consumed, consumed])) == 1
        assert u.usage_events.add_if_absent([consumed]) == []
        assert u.usage_events.stored_entry_ids(["17-0", "18-0"]) == {"17-0"}
        u.commit()


def test_linking_events_to_an_invoice_bills_them_once(uow):
    add_org(uow)
    with uow() as u:
        u.usage_events.add_if_absent(
            [event("k1", minutes=1), event("k2", minutes=2), event("late", minutes=90)]
        )
        u.commit()
    invoice = UsageInvoice(
        "inv_1",
        "org_a",
        InvoiceStatus.DRAFT,
        NOW,
        NOW + timedelta(hours=1),
        Money(1, "usd"),
        NOW,
        NOW,
    )
    cutoff = NOW + timedelta(hours=1)
    billed = [Metric.STT_WORDS]
    with uow() as u:
        u.usage_invoices.add(invoice)
        assert u.usage_events.link_unbilled("org_a", cutoff, billed, "inv_1") == 2
        assert u.usage_events.link_unbilled("org_a", cutoff, billed, "inv_1") == 0  # billed
        linked = u.usage_events.linked_totals("inv_1")
        assert [(t.metric, t.quantity, t.events) for t in linked] == [(Metric.STT_WORDS, 20, 2)]
        u.commit()
    with uow() as u:
        assert u.usage_events.unbilled_totals("org_a", cutoff, billed) == []
        remaining = u.usage_events.unbilled_totals("org_a", cutoff + timedelta(hours=1), billed)
        assert [t.events for t in remaining] == [1]  # the late one
        assert [e.idempotency_key for e in u.usage_events.billed_by("inv_1", None, 10, 0)] == [
            "k1",
            "k2",
        ]


def test_one_claim_on_a_draft_at_a_time(uow):
    add_org(uow)
    invoice = UsageInvoice(
        "inv_1", "org_a", InvoiceStatus.DRAFT, NOW, NOW, Money(0, "usd"), NOW, NOW
    )
    later = NOW + timedelta(minutes=10)
    with uow() as u:
        u.usage_invoices.add(invoice)
        assert u.usage_invoices.claim("inv_1", "a", NOW, later)
        assert u.usage_invoices.claim("inv_1", "a", NOW, later)  # the holder again
        assert not u.usage_invoices.claim("inv_1", "b", NOW, later)
        assert u.usage_invoices.claim("inv_1", "b", later, later + timedelta(minutes=1))  # ran out
        u.usage_invoices.release("inv_1", "a")  # not the holder any more: nothing happens
        assert not u.usage_invoices.claim("inv_1", "a", later, later)
        u.usage_invoices.release("inv_1", "b")
        assert u.usage_invoices.claim("inv_1", "a", later, later)
        u.commit()


def test_usage_invoices_list_newest_first_and_per_tenant(uow):
    add_org(uow)
    add_org(uow, "org_b")
    with uow() as u:
        for i in range(3):
            at = NOW + timedelta(days=i)
            u.usage_invoices.add(
                UsageInvoice(
                    f"inv_{i}", "org_a", InvoiceStatus.OPEN, at, at, Money(100 * i, "usd"), at, at
                )
            )
        u.commit()
    with uow() as u:
        assert [i.id for i in u.usage_invoices.recent("org_a", limit=2)] == ["inv_2", "inv_1"]
        assert u.usage_invoices.get("org_b", "inv_1") is None
        invoice = u.usage_invoices.get("org_a", "inv_1")
        invoice.link_stripe("in_1", "https://invoice.stripe.com/i/x", NOW)
        invoice.set_status(InvoiceStatus.PAID, NOW)
        u.usage_invoices.save(invoice)
        u.commit()
    with uow() as u:
        stored = u.usage_invoices.by_stripe_id("in_1")
        assert stored.status is InvoiceStatus.PAID and stored.total == Money(100, "usd")


def test_inbox_insert_if_absent_and_status_queries(uow):
    payload = {"id": "evt_1", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}
    with uow() as u:
        assert u.inbox.add_if_absent(InboxEvent("evt_1", "invoice.paid", payload, NOW))
        assert not u.inbox.add_if_absent(InboxEvent("evt_1", "invoice.paid", payload, NOW))
        u.inbox.add_if_absent(
            InboxEvent("evt_2", "charge.updated", {"id": "evt_2"}, NOW + timedelta(minutes=5))
        )
        u.commit()
    with uow() as u:
        stored = u.inbox.get("evt_1", for_update=True)
        assert stored.payload == payload and stored.status is InboxStatus.PENDING
        stored.record_attempt(NOW)
        stored.mark(InboxStatus.DEAD, NOW, error="boom")
        u.inbox.save(stored)
        u.commit()
    with uow() as u:
        assert [e.id for e in u.inbox.search(InboxStatus.DEAD, None, None, 100)] == ["evt_1"]
        assert u.inbox.get("evt_1").attempts == 1
        assert u.inbox.stale(NOW + timedelta(minutes=1), NOW, 100) == []
        assert u.inbox.stale(NOW + timedelta(minutes=10), NOW, 100) == ["evt_2"]
