"""The one way a change is announced to the product."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.model.ids import new_id
from domain.model.outbound import EVENT_TYPES, OutboxMessage, message_payload
from domain.ports import UnitOfWork


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
    dedupe_key, a second announce with the same (org_id, dedupe_key) writes nothing."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    message_id = new_id("msg")
    payload = message_payload(message_id, org_id, event_type, data, now)
    uow.outbox.add_if_absent(
        OutboxMessage(
            id=message_id,
            org_id=org_id,
            event_type=event_type,
            payload=payload,
            created_at=now,
            dedupe_key=dedupe_key,
        )
    )
