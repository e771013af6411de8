"""The one Stripe customer each organization has."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class StripeCustomer:
    org_id: str
    stripe_customer_id: str
    email: str | None
    name: str | None
    created_at: datetime

    def update_contact(self, email: str | None, name: str | None) -> bool:
        """Record a changed email or name; answer whether Stripe needs updating."""
        changed = (email is not None and email != self.email) or (
            name is not None and name != self.name
        )
        if email is not None:
            self.email = email
        if name is not None:
            self.name = name
        return changed
