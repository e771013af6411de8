"""Usage events: what an organization used, once per idempotency key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.model.plans import Metric


@dataclass(frozen=True)
class UsageTotal:
    group: str  # the day (YYYY-MM-DD), the metric or the conversation id
    metric: Metric
    quantity: int
    events: int


@dataclass(frozen=True)
class UsageEvent:
    org_id: str
    metric: Metric
    quantity: int
    occurred_at: datetime
    idempotency_key: str
    received_at: datetime
    conversation_id: str | None = None
    invoice_id: str | None = None
    id: int | None = None
