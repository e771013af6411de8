"""In-memory fakes of the outbox, the webhook endpoints and deliveries (parts of the fake unit
of work in tests.unit.fakes), of the address resolver and of the webhook sender."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.model.outbound import OutboxMessage
from domain.model.webhook_endpoints import (
    DeliveryAttempt,
    DeliveryStatus,
    SendResult,
    WebhookDelivery,
    WebhookEndpoint,
)


class _OutboundRepo:
    """A repository of the fake unit of work: reads its store, writes under its writer lock."""

    def __init__(self, uow: Any) -> None:
        self.uow = uow
        self.store = uow.store

    def _w(self) -> None:
        self.uow.begin_write()


class FakeOutbox(_OutboundRepo):
    def add_if_absent(self, message: OutboxMessage) -> bool:
        self._w()
        with self.store.lock:
            taken = message.id in self.store.outbox or (
                message.dedupe_key is not None
                and any(
                    m.org_id == message.org_id and m.dedupe_key == message.dedupe_key
                    for m in self.store.outbox.values()
                )
            )
            if taken:
                return False
            self.store.outbox = {**self.store.outbox, message.id: copy.deepcopy(message)}
            return True

    def get(self, message_id: str) -> OutboxMessage | None:
        return copy.deepcopy(self.store.outbox.get(message_id))

    def mark_fanned_out(self, message_id: str, now: datetime) -> bool:
        self._w()
        message = self.store.outbox.get(message_id)
        if message is None or message.fanned_out_at is not None:
            return False
        self.store.outbox = {**self.store.outbox, message_id: replace(message, fanned_out_at=now)}
        return True

    def unsent(self, created_before: datetime, limit: int) -> list[str]:
        found = [
            m
            for m in self.store.outbox.values()
            if m.fanned_out_at is None and m.created_at < created_before
        ]
        return [m.id for m in sorted(found, key=lambda m: m.created_at)[:limit]]

    def since(self, org_id: str, since: datetime, limit: int) -> list[OutboxMessage]:
        found = [
            copy.deepcopy(m)
            for m in self.store.outbox.values()
            if m.org_id == org_id and m.created_at >= since
        ]
        return sorted(found, key=lambda m: (m.created_at, m.id))[:limit]

    def messages(self, event_type: str | None = None) -> list[OutboxMessage]:
        """Every stored message (of the type), oldest first: for tests' assertions."""
        found = [
            m
            for m in self.store.outbox.values()
            if event_type is None or m.event_type == event_type
        ]
        return sorted(found, key=lambda m: m.created_at)


class FakeWebhookEndpoints(_OutboundRepo):
    def add(self, endpoint: WebhookEndpoint) -> None:
        self._w()
        if endpoint.id in self.store.webhook_endpoints:
            from tests.unit.fakes import UniqueViolation  # that module imports this one

            raise UniqueViolation(endpoint.id)
        self.store.webhook_endpoints[endpoint.id] = copy.deepcopy(endpoint)

    def get(self, org_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        found = self.store.webhook_endpoints.get(endpoint_id)
        return copy.deepcopy(found) if found and found.org_id == org_id else None

    def by_id(self, endpoint_id: str) -> WebhookEndpoint | None:
        return copy.deepcopy(self.store.webhook_endpoints.get(endpoint_id))

    def for_org(self, org_id: str) -> list[WebhookEndpoint]:
        found = [
            copy.deepcopy(e) for e in self.store.webhook_endpoints.values() if e.org_id == org_id
        ]
        return sorted(found, key=lambda e: (e.created_at, e.id))

    def save(self, endpoint: WebhookEndpoint) -> None:
        self._w()
        if endpoint.id in self.store.webhook_endpoints:
            self.store.webhook_endpoints[endpoint.id] = copy.deepcopy(endpoint)

    def delete(self, org_id: str, endpoint_id: str) -> bool:
        self._w()
        if self.get(org_id, endpoint_id) is None:
            return False
        gone = {
            d.id for d in self.store.webhook_deliveries.values() if d.endpoint_id == endpoint_id
        }
        self.store.webhook_attempts = [
            a for a in self.store.webhook_attempts if a.delivery_id not in gone
        ]
        self.store.webhook_deliveries = {
            k: d for k, d in self.store.webhook_deliveries.items() if k not in gone
        }
        self.store.webhook_endpoints = {
            k: e for k, e in self.store.webhook_endpoints.items() if k != endpoint_id
        }
        return True


class FakeWebhookDeliveries(_OutboundRepo):
    def __init__(self, uow: Any) -> None:
        super().__init__(uow)
        self.added: list[str] = []  # as the SQL one: handed to `after_commit` on commit

    def add_if_absent(self, deliveries: Sequence[WebhookDelivery]) -> list[str]:
        self._w()
        stored = []
        with self.store.lock:
            for delivery in deliveries:
                taken = delivery.id in self.store.webhook_deliveries or (
                    self.of_message(delivery.message_id, delivery.endpoint_id) is not None
                )
                if not taken:
                    self.store.webhook_deliveries[delivery.id] = copy.deepcopy(delivery)
                    stored.append(delivery.id)
        self.added += stored
        return stored

    def get(self, delivery_id: str) -> WebhookDelivery | None:
        return copy.deepcopy(self.store.webhook_deliveries.get(delivery_id))

    def of_message(self, message_id: str, endpoint_id: str) -> WebhookDelivery | None:
        for d in self.store.webhook_deliveries.values():
            if d.message_id == message_id and d.endpoint_id == endpoint_id:
                return copy.deepcopy(d)
        return None

    @staticmethod
    def _takeable(d: WebhookDelivery, now: datetime) -> bool:
        return (
            d.status is DeliveryStatus.PENDING
            and d.next_attempt_at is not None
            and d.next_attempt_at <= now
            and (d.leased_until is None or d.leased_until <= now)
        )

    def claim(
        self, delivery_id: str, token: str, now: datetime, until: datetime
    ) -> WebhookDelivery | None:
        self._w()
        with self.store.lock:
            found = self.store.webhook_deliveries.get(delivery_id)
            if found is None or not self._takeable(found, now):
                return None
            claimed = replace(
                found, lease_token=token, leased_until=until, attempts=found.attempts + 1
            )
            claimed.updated_at = now
            self.store.webhook_deliveries[delivery_id] = claimed
            return copy.deepcopy(claimed)

    def save(self, delivery: WebhookDelivery) -> None:
        self._w()
        if delivery.id in self.store.webhook_deliveries:
            self.store.webhook_deliveries[delivery.id] = copy.deepcopy(delivery)

    def due(self, now: datetime, limit: int) -> list[str]:
        found = [d for d in self.store.webhook_deliveries.values() if self._takeable(d, now)]
        found.sort(key=lambda d: d.next_attempt_at or now)
        return [d.id for d in found[:limit]]

    def fail_pending(self, endpoint_id: str, now: datetime, reason: str) -> int:
        self._w()
        count = 0
        for key, d in list(self.store.webhook_deliveries.items()):
            if d.endpoint_id == endpoint_id and d.status is DeliveryStatus.PENDING:
                failed = copy.deepcopy(d)
                failed.abandon(now, reason)
                self.store.webhook_deliveries[key] = failed
                count += 1
        return count

    def for_endpoint(
        self, org_id: str, endpoint_id: str, limit: int, offset: int = 0
    ) -> list[WebhookDelivery]:
        found = [
            copy.deepcopy(d)
            for d in self.store.webhook_deliveries.values()
            if d.org_id == org_id and d.endpoint_id == endpoint_id
        ]
        found.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return found[offset : offset + limit]

    def start_attempt(self, attempt: DeliveryAttempt) -> None:
        self._w()
        self.store.webhook_attempts.append(attempt)

    def finish_attempt(self, attempt: DeliveryAttempt) -> None:
        self._w()
        self.store.webhook_attempts = [
            attempt if (a.delivery_id, a.number) == (attempt.delivery_id, attempt.number) else a
            for a in self.store.webhook_attempts
        ]

    def attempts(self, delivery_ids: Sequence[str]) -> list[DeliveryAttempt]:
        wanted = set(delivery_ids)
        found = [a for a in self.store.webhook_attempts if a.delivery_id in wanted]
        return sorted(found, key=lambda a: (a.delivery_id, a.number))


class FakeResolver:
    """Host names to addresses: public unless told otherwise (a test re-points a host)."""

    PUBLIC = "93.184.215.14"

    def __init__(self, hosts: dict[str, list[str]] | None = None) -> None:
        self.hosts = dict(hosts or {})
        self.asked: list[str] = []

    def resolve(self, host: str) -> list[str]:
        self.asked.append(host)
        if host.endswith(".invalid"):
            raise OSError(f"{host} does not resolve")
        return self.hosts.get(host, [self.PUBLIC])


@dataclass
class SentMessage:
    url: str
    message_id: str
    body: str
    secrets: list[str]
    at: datetime


class FakeWebhookSender:
    """Answers each call with the next scripted status (200 once the script runs out)."""

    def __init__(self, statuses: Sequence[int | None] = ()) -> None:
        self.statuses = list(statuses)
        self.sent: list[SentMessage] = []

    def send(
        self, url: str, message_id: str, body: str, secrets: Sequence[str], now: datetime
    ) -> SendResult:
        self.sent.append(SentMessage(url, message_id, body, list(secrets), now))
        status = self.statuses.pop(0) if self.statuses else 200
        if status is None:
            return SendResult(None, "ConnectError: connection refused", 3)
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return SendResult(status, error, 7, "ok" if error is None else "boom")
