"""Delivery of outbox messages to the organizations' endpoints, after the change committed.

fan_out: one delivery per subscribed, enabled endpoint (once per message). deliver: claim the
attempt with a lease before the HTTP call, so a worker that stops mid-call costs at most one
more call, after its lease runs out. sweep: what a lost job or a stopped worker left behind."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import WebhookUrlRejected
from domain.model.audit import AuditEntry
from domain.model.ids import new_id
from domain.model.outbound import OutboxMessage
from domain.model.webhook_endpoints import (
    DeliveryAttempt,
    SendResult,
    WebhookDelivery,
    WebhookEndpoint,
)
from domain.model.webhook_urls import check_webhook_url
from domain.ports import (
    AddressResolver,
    Clock,
    JobQueue,
    UnitOfWork,
    UnitOfWorkFactory,
    WebhookSender,
)

log = logging.getLogger("billing.outbound")

FAN_OUT_JOB = "fan_out_message"
DELIVER_JOB = "deliver_webhook"
DISABLED_ACTION = "webhook_endpoint.disabled"


@dataclass(frozen=True)
class OutboundDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    jobs: JobQueue
    sender: WebhookSender
    resolver: AddressResolver
    allow_private: bool = False  # development only: http and local receivers
    lease: timedelta = timedelta(seconds=60)  # longer than the sender's whole timeout
    unsent_after: timedelta = timedelta(seconds=30)
    batch: int = 500


def body_of(message: OutboxMessage) -> str:
    """The exact bytes signed and sent."""
    return json.dumps(message.payload, separators=(",", ":"), sort_keys=True)


def enqueue_fan_outs(jobs: JobQueue, message_ids: Sequence[str]) -> None:
    """Messages stored without their deliveries: fan each out. A job run twice does nothing the
    second time, so a repeat needs no stable job id."""
    for message_id in message_ids:
        jobs.enqueue(FAN_OUT_JOB, message_id)


def enqueue_deliveries(jobs: JobQueue, delivery_ids: Sequence[str]) -> None:
    """After the commit that stored them (the unit of work's dispatcher), or when due."""
    for delivery_id in delivery_ids:
        jobs.enqueue(DELIVER_JOB, delivery_id)


def subscribed(endpoints: Sequence[WebhookEndpoint], event_type: str) -> list[WebhookEndpoint]:
    return [e for e in endpoints if e.enabled and e.subscribes_to(event_type)]


def new_delivery(
    message: OutboxMessage, endpoint: WebhookEndpoint, now: datetime
) -> WebhookDelivery:
    return WebhookDelivery(
        id=new_id("whd"),
        org_id=message.org_id,
        message_id=message.id,
        endpoint_id=endpoint.id,
        event_type=message.event_type,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )


def fan_out(deps: OutboundDeps, message_id: str) -> list[str]:
    """Create the deliveries of a message stored without them, once (the commit enqueues
    them). Answers the deliveries created."""
    now = deps.clock.now()
    with deps.uow() as uow:
        message = uow.outbox.get(message_id)
        if message is None or not uow.outbox.mark_fanned_out(message_id, now):
            return []
        endpoints = subscribed(uow.webhook_endpoints.for_org(message.org_id), message.event_type)
        created = uow.webhook_deliveries.add_if_absent(
            [new_delivery(message, e, now) for e in endpoints]
        )
        uow.commit()
    return created


def deliver(deps: OutboundDeps, delivery_id: str) -> str:
    """One attempt of one delivery, if it is due and nobody else holds it. Answers the
    outcome: delivered, retrying, failed, or skipped (not due, or taken)."""
    now = deps.clock.now()
    token = new_id("lease")
    with deps.uow() as uow:
        delivery = uow.webhook_deliveries.claim(delivery_id, token, now, now + deps.lease)
        if delivery is None:
            return "skipped"
        endpoint = uow.webhook_endpoints.by_id(delivery.endpoint_id)
        message = uow.outbox.get(delivery.message_id)
        if endpoint is None or message is None or not endpoint.enabled:
            delivery.abandon(now, "the endpoint is disabled")
            uow.webhook_deliveries.save(delivery)
            uow.commit()
            return "failed"
        uow.webhook_deliveries.start_attempt(DeliveryAttempt(delivery.id, delivery.attempts, now))
        uow.commit()
    result = _send(deps, endpoint, message, now)
    return _settle(deps, delivery, endpoint, token, result)


def _send(
    deps: OutboundDeps, endpoint: WebhookEndpoint, message: OutboxMessage, now: datetime
) -> SendResult:
    try:
        # Again at every attempt: a host may have been re-pointed since it was registered.
        check_webhook_url(
            endpoint.url, allow_private=deps.allow_private, resolve=deps.resolver.resolve
        )
    except WebhookUrlRejected as exc:
        return SendResult(None, exc.message, 0)
    return deps.sender.send(
        endpoint.url, message.id, body_of(message), endpoint.signing_secrets(now), now
    )


def _settle(
    deps: OutboundDeps,
    claimed: WebhookDelivery,
    endpoint: WebhookEndpoint,
    token: str,
    result: SendResult,
) -> str:
    now = deps.clock.now()
    with deps.uow() as uow:
        uow.webhook_deliveries.finish_attempt(
            DeliveryAttempt(
                claimed.id,
                claimed.attempts,
                claimed.updated_at,
                result.status_code,
                result.error,
                result.duration_ms,
                result.response_snippet,
            )
        )
        delivery = uow.webhook_deliveries.get(claimed.id)
        if delivery is None or delivery.lease_token != token:
            # Our lease ran out and another attempt took the delivery over: it decides.
            uow.commit()
            return "superseded"
        if result.delivered:
            delivery.succeed(now, result.status_code or 200)
            outcome = "delivered"
        elif delivery.fail(now, result.status_code, result.error):
            outcome = "failed"
            _disable(uow, endpoint.id, now, delivery)
        else:
            outcome = "retrying"
        uow.webhook_deliveries.save(delivery)
        uow.commit()
    log.info(
        "webhook attempt",
        extra={
            "delivery_id": claimed.id,
            "attempt": claimed.attempts,
            "status_code": result.status_code,
            "outcome": outcome,
        },
    )
    return outcome


def _disable(u: UnitOfWork, endpoint_id: str, now: datetime, delivery: WebhookDelivery) -> None:
    endpoint = u.webhook_endpoints.by_id(endpoint_id)
    if endpoint is None or not endpoint.enabled:
        return
    reason = f"every attempt of delivery {delivery.id} failed"
    endpoint.disable(now, reason)
    u.webhook_endpoints.save(endpoint)
    others = u.webhook_deliveries.fail_pending(endpoint_id, now, "the endpoint was disabled")
    u.audit.record(
        AuditEntry(
            org_id=endpoint.org_id,
            at=now,
            actor="system:webhooks",
            action=DISABLED_ACTION,
            details={
                "endpoint_id": endpoint_id,
                "url": endpoint.url,
                "reason": reason,
                "last_status_code": delivery.last_status_code,
                "last_error": delivery.last_error,
                "pending_failed": others,
            },
        )
    )


def sweep(deps: OutboundDeps) -> dict[str, int]:
    """Periodic: fan out messages committed but never fanned out (Redis was down at commit),
    and enqueue deliveries due (retries, and those a stopped worker held past its lease)."""
    now = deps.clock.now()
    with deps.uow() as uow:
        unsent = uow.outbox.unsent(now - deps.unsent_after, deps.batch)
        due = uow.webhook_deliveries.due(now, deps.batch)
    enqueue_fan_outs(deps.jobs, unsent)
    enqueue_deliveries(deps.jobs, due)
    return {"messages": len(unsent), "deliveries": len(due)}
