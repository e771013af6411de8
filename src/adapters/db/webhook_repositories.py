"""The organizations' webhook endpoints, their deliveries and every attempt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from adapters.db.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from adapters.db.upsert import insert_if_absent
from domain.model.webhook_endpoints import (
    DeliveryAttempt,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)


def _endpoint(row: Mapping[Any, Any]) -> WebhookEndpoint:
    values = dict(row)
    values["event_types"] = list(values["event_types"] or [])
    return WebhookEndpoint(**values)


def _delivery(row: Mapping[Any, Any]) -> WebhookDelivery:
    values = dict(row)
    values["status"] = DeliveryStatus(values["status"])
    return WebhookDelivery(**values)


def _delivery_values(delivery: WebhookDelivery) -> dict[str, Any]:
    values = asdict(delivery)
    values["status"] = delivery.status.value
    return values


class SqlWebhookEndpoints:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.conn.execute(webhook_endpoints.insert().values(**asdict(endpoint)))

    def get(self, org_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        c = webhook_endpoints.c
        stmt = select(webhook_endpoints).where(c.id == endpoint_id, c.org_id == org_id)
        row = self.conn.execute(stmt).mappings().first()
        return _endpoint(row) if row else None

    def by_id(self, endpoint_id: str) -> WebhookEndpoint | None:
        stmt = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        row = self.conn.execute(stmt).mappings().first()
        return _endpoint(row) if row else None

    def for_org(self, org_id: str) -> list[WebhookEndpoint]:
        c = webhook_endpoints.c
        stmt = select(webhook_endpoints).where(c.org_id == org_id).order_by(c.created_at, c.id)
        return [_endpoint(row) for row in self.conn.execute(stmt).mappings()]

    def save(self, endpoint: WebhookEndpoint) -> None:
        self.conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint.id)
            .values(**asdict(endpoint))
        )

    def delete(self, org_id: str, endpoint_id: str) -> bool:
        if self.get(org_id, endpoint_id) is None:
            return False
        d = webhook_deliveries.c
        ids = select(d.id).where(d.endpoint_id == endpoint_id).scalar_subquery()
        self.conn.execute(delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(ids)))
        self.conn.execute(delete(webhook_deliveries).where(d.endpoint_id == endpoint_id))
        self.conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
        return True


class SqlWebhookDeliveries:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # What this transaction stored: handed to the dispatcher once it commits.
        self.added: list[str] = []

    def add_if_absent(self, deliveries: Sequence[WebhookDelivery]) -> list[str]:
        stored = []
        for delivery in deliveries:  # few per message: one per subscribed endpoint
            values = [_delivery_values(delivery)]
            if insert_if_absent(self.conn, webhook_deliveries, values, ["id"], any_conflict=True):
                stored.append(delivery.id)
        self.added += stored
        return stored

    def get(self, delivery_id: str) -> WebhookDelivery | None:
        stmt = select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
        row = self.conn.execute(stmt).mappings().first()
        return _delivery(row) if row else None

    def of_message(self, message_id: str, endpoint_id: str) -> WebhookDelivery | None:
        c = webhook_deliveries.c
        stmt = select(webhook_deliveries).where(
            c.message_id == message_id, c.endpoint_id == endpoint_id
        )
        row = self.conn.execute(stmt).mappings().first()
        return _delivery(row) if row else None

    def claim(
        self, delivery_id: str, token: str, now: datetime, until: datetime
    ) -> WebhookDelivery | None:
        c = webhook_deliveries.c
        # One statement: a concurrent claimer waits on the row, then finds it leased.
        result = self.conn.execute(
            update(webhook_deliveries)
            .where(
                c.id == delivery_id,
                c.status == DeliveryStatus.PENDING.value,
                c.next_attempt_at <= now,
                or_(c.leased_until.is_(None), c.leased_until <= now),
            )
            .values(lease_token=token, leased_until=until, attempts=c.attempts + 1, updated_at=now)
        )
        if result.rowcount != 1:
            return None
        return self.get(delivery_id)

    def save(self, delivery: WebhookDelivery) -> None:
        self.conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery.id)
            .values(**_delivery_values(delivery))
        )

    def due(self, now: datetime, limit: int) -> list[str]:
        c = webhook_deliveries.c
        stmt = (
            select(c.id)
            .where(
                c.status == DeliveryStatus.PENDING.value,
                c.next_attempt_at <= now,
                or_(c.leased_until.is_(None), c.leased_until <= now),
            )
            .order_by(c.next_attempt_at)
            .limit(limit)
        )
        return list(self.conn.execute(stmt).scalars())

    def fail_pending(self, endpoint_id: str, now: datetime, reason: str) -> int:
        c = webhook_deliveries.c
        result = self.conn.execute(
            update(webhook_deliveries)
            .where(and_(c.endpoint_id == endpoint_id, c.status == DeliveryStatus.PENDING.value))
            .values(
                status=DeliveryStatus.FAILED.value,
                last_error=reason,
                next_attempt_at=None,
                lease_token=None,
                leased_until=None,
                updated_at=now,
            )
        )
        return int(result.rowcount)

    def for_endpoint(
        self, org_id: str, endpoint_id: str, limit: int, offset: int = 0
    ) -> list[WebhookDelivery]:
        c = webhook_deliveries.c
        stmt = (
            select(webhook_deliveries)
            .where(c.org_id == org_id, c.endpoint_id == endpoint_id)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [_delivery(row) for row in self.conn.execute(stmt).mappings()]

    def start_attempt(self, attempt: DeliveryAttempt) -> None:
        self.conn.execute(webhook_attempts.insert().values(**asdict(attempt)))

    def finish_attempt(self, attempt: DeliveryAttempt) -> None:
        c = webhook_attempts.c
        self.conn.execute(
            update(webhook_attempts)
            .where(c.delivery_id == attempt.delivery_id, c.number == attempt.number)
            .values(
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
                response_snippet=attempt.response_snippet,
            )
        )

    def attempts(self, delivery_ids: Sequence[str]) -> list[DeliveryAttempt]:
        if not delivery_ids:
            return []
        c = webhook_attempts.c
        stmt = (
            select(webhook_attempts)
            .where(c.delivery_id.in_(list(delivery_ids)))
            .order_by(c.delivery_id, c.number)
        )
        return [
            DeliveryAttempt(**{k: v for k, v in row.items() if k != "id"})
            for row in self.conn.execute(stmt).mappings()
        ]
