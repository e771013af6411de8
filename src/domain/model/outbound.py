"""Messages to the product: what happened, written to the outbox in the transaction of the
change it announces, then delivered to the organization's webhook endpoints (Standard
Webhooks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

SUBSCRIPTION_UPDATED = "subscription.updated"
ENTITLEMENT_CHANGED = "entitlement.changed"
INVOICE_CREATED = "invoice.created"
INVOICE_PAID = "invoice.paid"
INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
QUOTA_THRESHOLD_REACHED = "quota.threshold_reached"
QUOTA_EXHAUSTED = "quota.exhausted"
QUOTA_RESET = "quota.reset"
SPEND_CAP_REACHED = "spend_cap.reached"

EVENT_TYPES: tuple[str, ...] = (
    SUBSCRIPTION_UPDATED,
    ENTITLEMENT_CHANGED,
    INVOICE_CREATED,
    INVOICE_PAID,
    INVOICE_PAYMENT_FAILED,
    QUOTA_THRESHOLD_REACHED,
    QUOTA_EXHAUSTED,
    QUOTA_RESET,
    SPEND_CAP_REACHED,
)


@dataclass(frozen=True)
class OutboxMessage:
    """One announcement. `id` is the Standard Webhooks `webhook-id` (the same on every
    attempt and every endpoint, so a receiver can drop a repeat); `payload` is the body."""

    id: str
    org_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    dedupe_key: str | None = None
    fanned_out_at: datetime | None = None


def message_payload(
    message_id: str, org_id: str, event_type: str, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The body every endpoint receives: type, id, timestamp, organization and the object as
    the API presents it."""
    return {
        "type": event_type,
        "id": message_id,
        "timestamp": plain(now),
        "organization": org_id,
        "data": plain(data),
    }


def plain(value: Any) -> Any:
    """The value as JSON holds it: times in ISO 8601 UTC, decimals as strings, enums by value."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Decimal):
        return str(value)
    return value
