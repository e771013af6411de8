"""The billing audit trail: every transition, with who or what caused it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SubscriptionChange:
    """One state of a subscription from a moment on: the history revenue analytics read."""

    org_id: str
    stripe_subscription_id: str
    at: datetime
    status: str
    tier: str | None
    monthly_amount_minor: int  # what the state adds to MRR while it is a paying state
    currency: str


@dataclass(frozen=True)
class AuditEntry:
    org_id: str
    at: datetime
    actor: str  # "user:<sub>", "stripe:<event id>", "scheduler:<job>", "system"
    action: str  # e.g. "subscription.status_changed", "entitlement.downgraded"
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
