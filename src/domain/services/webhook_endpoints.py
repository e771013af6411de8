"""The owner's use cases over the organization's webhook endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidWebhookEventType, NotFound, TooManyWebhookEndpoints
from domain.model.audit import AuditEntry
from domain.model.ids import new_id
from domain.model.outbound import EVENT_TYPES
from domain.model.webhook_endpoints import (
    DeliveryAttempt,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    new_secret,
)
from domain.model.webhook_urls import check_webhook_url
from domain.ports import UnitOfWork
from domain.services.webhook_delivery import OutboundDeps, enqueue_deliveries, new_delivery

MAX_ENDPOINTS = 20
REPLAY_LIMIT = 10_000


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    attempts: list[DeliveryAttempt]


def _event_types(event_types: Sequence[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(event_types or []))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InvalidWebhookEventType(
            f"unknown event types: {', '.join(unknown)}", allowed=list(EVENT_TYPES)
        )
    return chosen


def _audit(
    uow: UnitOfWork, org_id: str, now: datetime, actor: str, action: str, **details: object
) -> None:
    uow.audit.record(
        AuditEntry(org_id=org_id, at=now, actor=actor, action=action, details=dict(details))
    )


def _owned(uow: UnitOfWork, org_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = uow.webhook_endpoints.get(org_id, endpoint_id)
    if endpoint is None:
        raise NotFound("no such webhook endpoint", endpoint_id=endpoint_id)
    return endpoint


def create_endpoint(
    deps: OutboundDeps,
    org_id: str,
    actor: str,
    url: str,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
) -> WebhookEndpoint:
    """The new endpoint, with its secret (the only time the owner sees it)."""
    chosen = _event_types(event_types)
    check_webhook_url(url, allow_private=deps.allow_private, resolve=deps.resolver.resolve)
    now = deps.clock.now()
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        org_id=org_id,
        url=url,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
        event_types=chosen,
        description=description,
    )
    with deps.uow() as uow:
        uow.lock(f"webhook-endpoints:{org_id}")
        if len(uow.webhook_endpoints.for_org(org_id)) >= MAX_ENDPOINTS:
            raise TooManyWebhookEndpoints(
                f"an organization has at most {MAX_ENDPOINTS} webhook endpoints",
                limit=MAX_ENDPOINTS,
            )
        uow.webhook_endpoints.add(endpoint)
        _audit(
            uow, org_id, now, actor, "webhook_endpoint.created", endpoint_id=endpoint.id, url=url
        )
        uow.commit()
    return endpoint


def list_endpoints(deps: OutboundDeps, org_id: str) -> list[WebhookEndpoint]:
    with deps.uow() as uow:
        return uow.webhook_endpoints.for_org(org_id)


def get_endpoint(deps: OutboundDeps, org_id: str, endpoint_id: str) -> WebhookEndpoint:
    with deps.uow() as uow:
        return _owned(uow, org_id, endpoint_id)


def delete_endpoint(deps: OutboundDeps, org_id: str, actor: str, endpoint_id: str) -> None:
    now = deps.clock.now()
    with deps.uow() as uow:
        endpoint = _owned(uow, org_id, endpoint_id)
        uow.webhook_endpoints.delete(org_id, endpoint_id)
        _audit(
            uow,
            org_id,
            now,
            actor,
            "webhook_endpoint.deleted",
            endpoint_id=endpoint_id,
            url=endpoint.url,
        )
        uow.commit()


def rotate_secret(deps: OutboundDeps, org_id: str, actor: str, endpoint_id: str) -> WebhookEndpoint:
    """A new secret (shown once); the old one keeps signing beside it for 24 hours."""
    now = deps.clock.now()
    with deps.uow() as uow:
        endpoint = _owned(uow, org_id, endpoint_id)
        endpoint.rotate(new_secret(), now)
        uow.webhook_endpoints.save(endpoint)
        _audit(uow, org_id, now, actor, "webhook_endpoint.secret_rotated", endpoint_id=endpoint_id)
        uow.commit()
    return endpoint


def endpoint_deliveries(
    deps: OutboundDeps, org_id: str, endpoint_id: str, limit: int, offset: int = 0
) -> list[DeliveryView]:
    with deps.uow() as uow:
        _owned(uow, org_id, endpoint_id)
        deliveries = uow.webhook_deliveries.for_endpoint(org_id, endpoint_id, limit, offset)
        attempts = uow.webhook_deliveries.attempts([d.id for d in deliveries])
    by_delivery: dict[str, list[DeliveryAttempt]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return [DeliveryView(d, by_delivery.get(d.id, [])) for d in deliveries]


def replay(
    deps: OutboundDeps, org_id: str, actor: str, endpoint_id: str, since: datetime
) -> tuple[WebhookEndpoint, int]:
    """Enable the endpoint again and send it, with the whole schedule, every message since
    `since` it subscribes to and has not received. Answers the endpoint and how many."""
    now = deps.clock.now()
    queued: list[str] = []  # reopened ones; the new ones are enqueued by the commit
    created = 0
    with deps.uow() as uow:
        endpoint = _owned(uow, org_id, endpoint_id)
        if not endpoint.enabled:
            endpoint.enable(now)
            uow.webhook_endpoints.save(endpoint)
            _audit(uow, org_id, now, actor, "webhook_endpoint.enabled", endpoint_id=endpoint_id)
        for message in uow.outbox.since(org_id, since, REPLAY_LIMIT):
            if not endpoint.subscribes_to(message.event_type):
                continue
            delivery = uow.webhook_deliveries.of_message(message.id, endpoint_id)
            if delivery is None:
                made = [new_delivery(message, endpoint, now)]
                created += len(uow.webhook_deliveries.add_if_absent(made))
            elif delivery.status is DeliveryStatus.FAILED:
                delivery.reopen(now)
                uow.webhook_deliveries.save(delivery)
                queued.append(delivery.id)
        _audit(
            uow,
            org_id,
            now,
            actor,
            "webhook_endpoint.replayed",
            endpoint_id=endpoint_id,
            since=since.isoformat(),
            deliveries=len(queued) + created,
        )
        uow.commit()
    enqueue_deliveries(deps.jobs, queued)
    return endpoint, len(queued) + created
