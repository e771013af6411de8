"""Recording metered usage: validated as a whole, stored once per idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import UsageRejected
from domain.model.metering import UsageEvent
from domain.model.plans import Metric
from domain.ports import Clock, UnitOfWorkFactory

MAX_BATCH = 1000
MAX_QUANTITY = 2**53 - 1
FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class UsageInput:
    metric: Metric
    quantity: int
    idempotency_key: str
    occurred_at: datetime | None = None
    conversation_id: str | None = None


@dataclass(frozen=True)
class UsageReceipt:
    accepted: int
    duplicates: int


def record_usage(uow_factory: UnitOfWorkFactory, clock: Clock, org_id: str,
                 inputs: Sequence[UsageInput]) -> UsageReceipt:
    """All or nothing: one bad event refuses the batch (naming its index and field); the rest
    is written in one transaction, skipping keys already stored. Late events are accepted and
    billed on the next usage invoice."""
    now = clock.now()
    errors: dict[str, dict[str, list[str]]] = {}
    for index, item in enumerate(inputs):
        problems: dict[str, list[str]] = {}
        if isinstance(item.quantity, bool) or not 0 <= item.quantity <= MAX_QUANTITY:
            problems["quantity"] = [f"must be an integer from 0 to {MAX_QUANTITY}"]
        if item.occurred_at is not None and item.occurred_at > now + FUTURE_SKEW:
            problems["occurred_at"] = ["is more than 5 minutes in the future"]
        if problems:
            errors[str(index)] = problems
    if not 1 <= len(inputs) <= MAX_BATCH:
        raise UsageRejected(f"send 1 to {MAX_BATCH} events", errors={"events": ["bad size"]})
    if errors:
        raise UsageRejected("some events are invalid; nothing was stored",
                            errors={"json": {"events": errors}})
    events = [UsageEvent(org_id, item.metric, item.quantity, item.occurred_at or now,
                         item.idempotency_key, now, item.conversation_id) for item in inputs]
    with uow_factory() as uow:
        accepted = uow.usage_events.add_if_absent(events)
        uow.commit()
    return UsageReceipt(accepted, len(events) - accepted)
