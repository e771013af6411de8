"""Checkout sessions we created, kept so that completion and conversion can be measured."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.model.payments import CheckoutMode
from domain.model.plans import Tier


class CheckoutStatus(StrEnum):
    OPEN = "open"
    COMPLETE = "complete"
    EXPIRED = "expired"


@dataclass
class CheckoutRecord:
    id: str
    org_id: str
    tier: Tier
    mode: CheckoutMode
    status: CheckoutStatus
    created_at: datetime
    stripe_checkout_session_id: str | None = None
    completed_at: datetime | None = None
    expired_at: datetime | None = None

    def opened(self, stripe_checkout_session_id: str) -> None:
        self.stripe_checkout_session_id = stripe_checkout_session_id

    def complete(self, now: datetime) -> bool:
        if self.status is CheckoutStatus.COMPLETE:
            return False
        self.status = CheckoutStatus.COMPLETE
        self.completed_at = now
        return True

    def expire(self, now: datetime) -> bool:
        if self.status is not CheckoutStatus.OPEN:
            return False
        self.status = CheckoutStatus.EXPIRED
        self.expired_at = now
        return True
