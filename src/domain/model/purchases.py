"""One-time purchases (the white-label plan), recorded once when paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.model.money import Money
from domain.model.plans import Tier


class PurchaseStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    REFUNDED = "refunded"


@dataclass
class OneTimePurchase:
    id: str
    org_id: str
    tier: Tier
    amount: Money
    status: PurchaseStatus
    stripe_checkout_session_id: str | None
    stripe_payment_intent_id: str | None
    created_at: datetime
    paid_at: datetime | None = None

    @property
    def grants_plan(self) -> bool:
        return self.status is PurchaseStatus.PAID

    def opened(self, stripe_checkout_session_id: str) -> None:
        self.stripe_checkout_session_id = stripe_checkout_session_id

    def mark_paid(self, payment_intent_id: str | None, now: datetime) -> bool:
        """Record payment once; a second notice of the same payment changes nothing."""
        if self.status is PurchaseStatus.PAID:
            return False
        self.status = PurchaseStatus.PAID
        self.stripe_payment_intent_id = payment_intent_id or self.stripe_payment_intent_id
        self.paid_at = now
        return True
