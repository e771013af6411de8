"""Repositories over one connection: rows in, domain objects out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select, update

from adapters.db import rows
from adapters.db.tables import (
    checkout_sessions,
    one_time_purchases,
    organizations,
    stripe_customers,
    subscriptions,
    webhook_events,
)
from adapters.db.upsert import insert_if_absent
from domain.model.checkouts import CheckoutRecord
from domain.model.customers import StripeCustomer
from domain.model.organizations import Organization
from domain.model.purchases import OneTimePurchase
from domain.model.subscriptions import Subscription, SubscriptionStatus
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
        values = {
            "id": organization.id,
            "name": organization.name,
            "created_at": organization.created_at,
            "operator": organization.operator,
        }
        return insert_if_absent(self.conn, organizations, [values], ["id"]) == 1

    def mark_operator(self, org_id: str) -> None:
        c = organizations.c
        self.conn.execute(
            update(organizations).where(c.id == org_id, c.operator.is_(False)).values(operator=True)
        )


class SqlCustomerRepository(_Repository):
    def for_org(self, org_id: str) -> StripeCustomer | None:
        row = self._one(select(stripe_customers).where(stripe_customers.c.org_id == org_id))
        return StripeCustomer(**row) if row else None

    def by_stripe_id(self, stripe_customer_id: str) -> StripeCustomer | None:
        stmt = select(stripe_customers).where(
            stripe_customers.c.stripe_customer_id == stripe_customer_id
        )
        row = self._one(stmt)
        return StripeCustomer(**row) if row else None

    def add_if_absent(self, customer: StripeCustomer) -> bool:
        if insert_if_absent(
            self.conn, stripe_customers, [vars(customer)], ["org_id"], any_conflict=True
        ):
            return True
        if self.for_org(customer.org_id) is not None:
            return False  # the organization has its customer (a concurrent first call's)
        # The Stripe customer belongs to another organization: the targeted insert says so.
        return insert_if_absent(self.conn, stripe_customers, [vars(customer)], ["org_id"]) == 1

    def save(self, customer: StripeCustomer) -> None:
        self.conn.execute(
            update(stripe_customers)
            .where(stripe_customers.c.org_id == customer.org_id)
            .values(email=customer.email, name=customer.name)
        )


class SqlSubscriptionRepository(_Repository):
    def get(self, stripe_subscription_id: str) -> Subscription | None:
        stmt = select(subscriptions).where(
            subscriptions.c.stripe_subscription_id == stripe_subscription_id
        )
        row = self._one(stmt)
        return rows.subscription(row) if row else None

    def for_org(self, org_id: str) -> list[Subscription]:
        stmt = (
            select(subscriptions)
            .where(subscriptions.c.org_id == org_id)
            .order_by(subscriptions.c.updated_at.desc())
        )
        return [rows.subscription(r) for r in self.conn.execute(stmt).mappings()]

    def save(self, subscription: Subscription) -> None:
        values = rows.subscription_values(subscription)
        key = subscription.stripe_subscription_id
        if insert_if_absent(self.conn, subscriptions, [values], ["stripe_subscription_id"]):
            return
        self.conn.execute(
            update(subscriptions)
            .where(subscriptions.c.stripe_subscription_id == key)
            .values(**values)
        )

    def orgs_with_status(self, status: SubscriptionStatus) -> list[str]:
        stmt = (
            select(subscriptions.c.org_id).distinct().where(subscriptions.c.status == status.value)
        )
        return list(self.conn.execute(stmt).scalars())


class SqlPurchaseRepository(_Repository):
    def for_org(self, org_id: str) -> list[OneTimePurchase]:
        stmt = (
            select(one_time_purchases)
            .where(one_time_purchases.c.org_id == org_id)
            .order_by(one_time_purchases.c.created_at.desc())
        )
        return [rows.purchase(r) for r in self.conn.execute(stmt).mappings()]

    def by_checkout_session(self, session_id: str) -> OneTimePurchase | None:
        stmt = select(one_time_purchases).where(
            one_time_purchases.c.stripe_checkout_session_id == session_id
        )
        row = self._one(stmt)
        return rows.purchase(row) if row else None

    def add(self, purchase: OneTimePurchase) -> None:
        self.conn.execute(one_time_purchases.insert().values(**rows.purchase_values(purchase)))

    def save(self, purchase: OneTimePurchase) -> None:
        self.conn.execute(
            update(one_time_purchases)
            .where(one_time_purchases.c.id == purchase.id)
            .values(**rows.purchase_values(purchase))
        )


class SqlCheckoutRepository(_Repository):
    def add(self, record: CheckoutRecord) -> None:
        self.conn.execute(checkout_sessions.insert().values(**rows.checkout_values(record)))

    def save(self, record: CheckoutRecord) -> None:
        self.conn.execute(
            update(checkout_sessions)
            .where(checkout_sessions.c.id == record.id)
            .values(**rows.checkout_values(record))
        )

    def by_stripe_id(self, stripe_checkout_session_id: str) -> CheckoutRecord | None:
        stmt = select(checkout_sessions).where(
            checkout_sessions.c.stripe_checkout_session_id == stripe_checkout_session_id
        )
        row = self._one(stmt)
        return rows.checkout(row) if row else None


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
        self.conn.execute(
            update(webhook_events)
            .where(webhook_events.c.id == event.id)
            .values(**rows.inbox_values(event))
        )

    def stale(
        self, never_tried_before: datetime, retried_before: datetime, limit: int
    ) -> list[str]:
        c = webhook_events.c
        stmt = (
            select(c.id)
            .where(c.status == InboxStatus.PENDING.value)
            .where(
                or_(
                    and_(c.attempts == 0, c.received_at < never_tried_before),
                    and_(c.attempts > 0, c.last_attempt_at < retried_before),
                )
            )
            .order_by(c.received_at)
            .limit(limit)
        )
        return list(self.conn.execute(stmt).scalars())

    def search(
        self,
        status: InboxStatus | None,
        type_: str | None,
        received_since: datetime | None,
        limit: int,
        offset: int = 0,
    ) -> list[InboxEvent]:
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

    def lock_pending_siblings(
        self, event_id: str, types: Sequence[str], object_id: str, limit: int
    ) -> list[InboxEvent]:
        c = webhook_events.c
        stmt = (
            select(webhook_events)
            .where(c.status == InboxStatus.PENDING.value)
            .where(c.type.in_(list(types)))
            .where(c.id != event_id)
            .where(c.payload[("data", "object", "id")].as_string() == object_id)
            .order_by(c.received_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [rows.inbox_event(r) for r in self.conn.execute(stmt).mappings()]


# The intake's insert on Postgres, for the driver (psycopg) as is: one round trip, the body
# stored as received (Postgres parses it into JSONB), nothing compiled per call.
INTAKE_INSERT = (
    f"INSERT INTO {webhook_events.name} (id, type, api_version, livemode, "  # noqa: S608
    "stripe_created_at, payload, status, attempts, received_at) "
    "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, 0, %s) ON CONFLICT (id) DO NOTHING RETURNING id"
)


class SqlWebhookIntake:
    """The webhook intake's write: INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id, one
    autocommit statement, atomic on its own (of concurrent deliveries of one event, one stores
    it and the others find the key taken).

    On Postgres `engine` is a pool of the intake's own, in autocommit and without pre-ping
    (a round trip per request saved): a connection found broken (Postgres restarted) is
    discarded and the insert tried once on a new one. The retry is safe: if the lost attempt
    had stored the event, the retry answers "already stored", the event is not enqueued, and
    the sweep enqueues it as it does any pending event never tried. On SQLite (the embedded
    default) `engine` is the service's; the row goes through SQLAlchemy in autocommit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def add_if_absent(self, event: InboxEvent, payload: bytes) -> bool:
        if not self.postgres:
            with self.engine.connect() as conn:
                auto = conn.execution_options(isolation_level="AUTOCOMMIT")
                values = rows.inbox_values(event)
                return insert_if_absent(auto, webhook_events, [values], ["id"]) == 1
        params = (
            event.id,
            event.type,
            event.api_version,
            event.livemode,
            event.stripe_created_at,
            payload.decode(),
            event.status.value,
            event.received_at,
        )
        dialect = self.engine.dialect
        for attempt in (1, 2):
            raw = self.engine.raw_connection()
            cursor = None
            try:
                cursor = raw.cursor()
                cursor.execute(INTAKE_INSERT, params)
                return cursor.fetchone() is not None
            except dialect.loaded_dbapi.Error as exc:
                if attempt == 2 or not dialect.is_disconnect(exc, raw.dbapi_connection, cursor):
                    raise
                raw.invalidate(exc)
            finally:
                if cursor is not None:
                    cursor.close()
                raw.close()
        raise AssertionError("unreachable")
