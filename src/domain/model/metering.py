"""The usage ledger: every unit of usage the service accepts, once per idempotency key.

One entry is either a consumption (check-and-consume through the quota counter, which may
refuse), a release of a gauge (negative), or a recorded event (usage that already happened,
never refused). Quota status, summaries, analytics and invoices all read this one ledger.
Idempotency keys are unique per organization and metric: the same key sent to consume and to
record usage is one unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.model.plans import Metric


class UsageSource(StrEnum):
    RECORDED = "recorded"  # POST /usage/events: already happened
    CONSUMED = "consumed"  # check-and-consume, acknowledged by the counter
    RELEASED = "released"  # a gauge given back (negative quantity)


@dataclass(frozen=True)
class UsageTotal:
    group: str  # the day (YYYY-MM-DD), the metric or the conversation id
    metric: Metric
    quantity: int
    events: int


@dataclass(frozen=True)
class LinkedTotal:
    """What one metric's entries on an invoice add up to, before pricing."""

    metric: Metric
    quantity: int
    events: int
    first: datetime
    last: datetime


@dataclass(frozen=True)
class UsageEvent:
    org_id: str
    metric: Metric
    quantity: int
    occurred_at: datetime
    idempotency_key: str | None
    received_at: datetime
    conversation_id: str | None = None
    invoice_id: str | None = None
    id: int | None = None
    source: UsageSource = UsageSource.RECORDED
    entry_id: str | None = None  # the counter store's id, for consumptions and releases

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes the entry unique in the ledger: its key, or the counter's entry id."""
        if self.idempotency_key is not None:
            return self.org_id, self.metric.value, "k:" + self.idempotency_key
        return self.org_id, self.metric.value, "e:" + (self.entry_id or "")

    @property
    def lock_order(self) -> tuple[str, str, str, str]:
        """Writers insert in this order so that overlapping batches never deadlock."""
        return (self.org_id, self.metric.value, self.idempotency_key or "", self.entry_id or "")
