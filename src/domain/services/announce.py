"""The one way a change is announced to the product."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.model.ids import new_id
from domain.model.outbound import EVENT_TYPES, OutboxMessage, message_payload
from domain.ports import UnitOfWork
from domain.services.webhook_delivery import new_delivery, subscribed


def announce(
    uow: UnitOfWork,
    *,
    org_id: str,
    event_type: str,
    data: Mapping[str, Any],
    now: datetime,
    dedupe_key: str | None = None,
) -> None:
    """Writes one message to the outbox in uow's transaction (the caller commits). With a
    dedupe_key, a second announce with the same (org_id, dedupe_key) writes nothing.

    The message is fanned out in the same transaction, into one delivery per endpoint of the
    organization subscribed to the type now, which the commit hands to the dispatcher: an
    organization without endpoints costs one indexed read and no job."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    message_id = new_id("msg")
    message = OutboxMessage(
        id=message_id,
        org_id=org_id,
        event_type=event_type,
        payload=message_payload(message_id, org_id, event_type, data, now),
        created_at=now,
        dedupe_key=dedupe_key,
        fanned_out_at=now,
    )
    if not uow.outbox.add_if_absent(message):
        return
    endpoints = subscribed(uow.webhook_endpoints.for_org(org_id), event_type)
    uow.webhook_deliveries.add_if_absent([new_delivery(message, e, now) for e in endpoints])
