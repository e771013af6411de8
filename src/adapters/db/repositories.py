"""Repositories over one connection: rows in, domain objects out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from adapters.db import rows
from adapters.db.tables import (
    checkout_sessions,
    one_time_purchases,
    organizations,
    quota_ledger,
    stripe_customers,
    subscriptions,
    usage_events,
    usage_invoices,
    webhook_events,
)
from adapters.db.upsert import copy_if_absent, insert_if_absent
from domain.model.checkouts import CheckoutRecord
from domain.model.customers import StripeCustomer
from domain.model.invoicing import UsageInvoice
from domain.model.metering import UsageEvent, UsageTotal
from domain.model.organizations import Organization
from domain.model.plans import Metric
from domain.model.purchases import OneTimePurchase
from domain.model.quotas import LedgerEntry
from domain.model.subscriptions import Subscription
from domain.model.webhooks import InboxEvent, InboxStatus


class _Repository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _one(self, stmt: Any) -> Any:
        return self.conn.execute(stmt).mappings().first()


class SqlOrganizationRepository(_Repository):
    def get(self, org_id: str) -> Organization | None:
        row = self._one(select(organizations).where(organizations.c.id == org_id))
        return Organization(**row) if row else None

    def add_if_absent(self, organization: Organization) -> bool:
        values = {"id": organization.id, "name": organization.name,
                  "created_at": organization.created_at}
        return insert_if_absent(self.conn, organizations, [values], ["id"]) == 1


class SqlCustomerRepository(_Repository):
    def for_org(self, org_id: str) -> StripeCustomer | None:
        row = self._one(select(stripe_customers).where(stripe_customers.c.org_id == org_id))
        return StripeCustomer(**row) if row else None

    def by_stripe_id(self, stripe_customer_id: str) -> StripeCustomer | None:
        stmt = select(stripe_customers).where(
            stripe_customers.c.stripe_customer_id == stripe_customer_id)
        row = self._one(stmt)
        return StripeCustomer(**row) if row else None

    def add_if_absent(self, customer: StripeCustomer) -> bool:
        return insert_if_absent(self.conn, stripe_customers, [vars(customer)], ["org_id"]) == 1

    def save(self, customer: StripeCustomer) -> None:
        self.conn.execute(update(stripe_customers)
                          .where(stripe_customers.c.org_id == customer.org_id)
                          .values(email=customer.email, name=customer.name))


class SqlSubscriptionRepository(_Repository):
    def get(self, stripe_subscription_id: str) -> Subscription | None:
        stmt = select(subscriptions).where(
            subscriptions.c.stripe_subscription_id == stripe_subscription_id)
        row = self._one(stmt)
        return rows.subscription(row) if row else None

    def for_org(self, org_id: str) -> list[Subscription]:
        stmt = (select(subscriptions).where(subscriptions.c.org_id == org_id)
                .order_by(subscriptions.c.updated_at.desc()))
        return [rows.subscription(r) for r in self.conn.execute(stmt).mappings()]

    def save(self, subscription: Subscription) -> None:
        values = rows.subscription_values(subscription)
        key = subscription.stripe_subscription_id
        if insert_if_absent(self.conn, subscriptions, [values], ["stripe_subscription_id"]):
            return
        self.conn.execute(update(subscriptions)
                          .where(subscriptions.c.stripe_subscription_id == key).values(**values))


class SqlPurchaseRepository(_Repository):
    def for_org(self, org_id: str) -> list[OneTimePurchase]:
        stmt = (select(one_time_purchases).where(one_time_purchases.c.org_id == org_id)
                .order_by(one_time_purchases.c.created_at.desc()))
        return [rows.purchase(r) for r in self.conn.execute(stmt).mappings()]

    def by_checkout_session(self, session_id: str) -> OneTimePurchase | None:
        stmt = select(one_time_purchases).where(
            one_time_purchases.c.stripe_checkout_session_id == session_id)
        row = self._one(stmt)
        return rows.purchase(row) if row else None

    def add(self, purchase: OneTimePurchase) -> None:
        self.conn.execute(one_time_purchases.insert().values(**rows.purchase_values(purchase)))

    def save(self, purchase: OneTimePurchase) -> None:
        self.conn.execute(update(one_time_purchases)
                          .where(one_time_purchases.c.id == purchase.id)
                          .values(**rows.purchase_values(purchase)))


class SqlCheckoutRepository(_Repository):
    def add(self, record: CheckoutRecord) -> None:
        self.conn.execute(checkout_sessions.insert().values(**rows.checkout_values(record)))

    def save(self, record: CheckoutRecord) -> None:
        self.conn.execute(update(checkout_sessions).where(checkout_sessions.c.id == record.id)
                          .values(**rows.checkout_values(record)))

    def by_stripe_id(self, stripe_checkout_session_id: str) -> CheckoutRecord | None:
        stmt = select(checkout_sessions).where(
            checkout_sessions.c.stripe_checkout_session_id == stripe_checkout_session_id)
        row = self._one(stmt)
        return rows.checkout(row) if row else None


class SqlUsageEventRepository(_Repository):
    def add_if_absent(self, events: Sequence[UsageEvent]) -> int:
        values = [rows.usage_event_values(e) for e in events]
        if self.conn.dialect.name == "postgresql" and len(values) > 20:
            return copy_if_absent(self.conn, values)
        return insert_if_absent(self.conn, usage_events, values, ["org_id", "idempotency_key"])

    def unbilled(self, org_id: str, cutoff: datetime) -> list[UsageEvent]:
        stmt = (select(usage_events)
                .where(usage_events.c.org_id == org_id, usage_events.c.invoice_id.is_(None),
                       usage_events.c.occurred_at < cutoff)
                .order_by(usage_events.c.occurred_at, usage_events.c.id))
        return [rows.usage_event(r) for r in self.conn.execute(stmt).mappings()]

    def assign_to_invoice(self, event_ids: Sequence[int], invoice_id: str) -> int:
        if not event_ids:
            return 0
        stmt = (update(usage_events)
                .where(usage_events.c.id.in_(list(event_ids)), usage_events.c.invoice_id.is_(None))
                .values(invoice_id=invoice_id))
        return self.conn.execute(stmt).rowcount


    def summary(self, org_id: str, since: datetime, until: datetime,
                group_by: str) -> list[UsageTotal]:
        c = usage_events.c
        if group_by == "day":
            group = (func.to_char(func.timezone("UTC", c.occurred_at), "YYYY-MM-DD")
                     if self.conn.dialect.name == "postgresql"
                     else func.strftime("%Y-%m-%d", c.occurred_at))
        elif group_by == "conversation":
            group = func.coalesce(c.conversation_id, "")
        else:
            group = c.metric
        stmt = (select(group.label("grp"), c.metric, func.sum(c.quantity), func.count())
                .where(c.org_id == org_id, c.occurred_at >= since, c.occurred_at < until)
                .group_by(group, c.metric).order_by(group, c.metric))
        return [UsageTotal(str(g), Metric(m), int(q), int(n))
                for g, m, q, n in self.conn.execute(stmt)]


class SqlUsageInvoiceRepository(_Repository):
    def get(self, org_id: str, invoice_id: str) -> UsageInvoice | None:
        stmt = select(usage_invoices).where(usage_invoices.c.id == invoice_id,
                                            usage_invoices.c.org_id == org_id)
        row = self._one(stmt)
        return rows.usage_invoice(row) if row else None

    def by_stripe_id(self, stripe_invoice_id: str) -> UsageInvoice | None:
        stmt = select(usage_invoices).where(
            usage_invoices.c.stripe_invoice_id == stripe_invoice_id)
        row = self._one(stmt)
        return rows.usage_invoice(row) if row else None

    def add(self, invoice: UsageInvoice) -> None:
        self.conn.execute(usage_invoices.insert().values(**rows.usage_invoice_values(invoice)))

    def save(self, invoice: UsageInvoice) -> None:
        self.conn.execute(update(usage_invoices).where(usage_invoices.c.id == invoice.id)
                          .values(**rows.usage_invoice_values(invoice)))

    def recent(self, org_id: str, limit: int, offset: int = 0) -> list[UsageInvoice]:
        stmt = (select(usage_invoices).where(usage_invoices.c.org_id == org_id)
                .order_by(usage_invoices.c.created_at.desc(), usage_invoices.c.id.desc())
                .limit(limit).offset(offset))
        return [rows.usage_invoice(r) for r in self.conn.execute(stmt).mappings()]


class SqlQuotaLedger(_Repository):
    def add_if_absent(self, entries: Sequence[LedgerEntry]) -> int:
        values = [{"entry_id": e.entry_id, "org_id": e.org_id, "metric": e.metric.value,
                   "amount": e.amount, "occurred_at": e.occurred_at,
                   "idempotency_key": e.idempotency_key} for e in entries]
        return insert_if_absent(self.conn, quota_ledger, values, ["entry_id"])

    def total(self, org_id: str, metric: Metric, since: datetime | None,
              until: datetime | None) -> int:
        c = quota_ledger.c
        stmt = select(func.coalesce(func.sum(c.amount), 0)).where(
            c.org_id == org_id, c.metric == metric.value)
        if since is not None:
            stmt = stmt.where(c.occurred_at >= since)
        if until is not None:
            stmt = stmt.where(c.occurred_at < until)
        return int(self.conn.execute(stmt).scalar_one())


class SqlWebhookInbox(_Repository):
    def add_if_absent(self, event: InboxEvent) -> bool:
        values = rows.inbox_values(event)
        return insert_if_absent(self.conn, webhook_events, [values], ["id"]) == 1

    def get(self, event_id: str, *, for_update: bool = False) -> InboxEvent | None:
        stmt = select(webhook_events).where(webhook_events.c.id == event_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = self._one(stmt)
        return rows.inbox_event(row) if row else None

    def save(self, event: InboxEvent) -> None:
        self.conn.execute(update(webhook_events).where(webhook_events.c.id == event.id)
                          .values(**rows.inbox_values(event)))

    def stale(self, never_tried_before: datetime, retried_before: datetime,
              limit: int) -> list[str]:
        c = webhook_events.c
        stmt = (select(c.id).where(c.status == InboxStatus.PENDING.value).where(
            or_(and_(c.attempts == 0, c.received_at < never_tried_before),
                and_(c.attempts > 0, c.last_attempt_at < retried_before)))
            .order_by(c.received_at).limit(limit))
        return list(self.conn.execute(stmt).scalars())

    def search(self, status: InboxStatus | None, type_: str | None,
               received_since: datetime | None, limit: int, offset: int = 0) -> list[InboxEvent]:
        c = webhook_events.c
        stmt = select(webhook_events)
        if status is not None:
            stmt = stmt.where(c.status == status.value)
        if type_ is not None:
            stmt = stmt.where(c.type == type_)
        if received_since is not None:
            stmt = stmt.where(c.received_at >= received_since)
        stmt = stmt.order_by(c.received_at.desc(), c.id).limit(limit).offset(offset)
        return [rows.inbox_event(r) for r in self.conn.execute(stmt).mappings()]

    def with_status(self, status: InboxStatus, received_before: datetime | None = None,
                    limit: int = 100) -> list[InboxEvent]:
        stmt = select(webhook_events).where(webhook_events.c.status == status.value)
        if received_before is not None:
            stmt = stmt.where(webhook_events.c.received_at < received_before)
        stmt = stmt.order_by(webhook_events.c.received_at).limit(limit)
        return [rows.inbox_event(r) for r in self.conn.execute(stmt).mappings()]
