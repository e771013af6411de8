"""Subscriptions as Stripe holds them, mirrored locally; state changes go through `apply`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from domain.model.plans import Tier


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"

    @property
    def is_live(self) -> bool:
        """Live subscriptions block a second one: they may still become or stay paid."""
        return self in _LIVE

    @property
    def grants_plan(self) -> bool:
        return self in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)

    @property
    def is_paying(self) -> bool:
        """Revenue: what MRR, churn and conversion count (a trial is not revenue yet)."""
        return self in PAYING_STATES


PAYING_STATES = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE})
_LIVE = frozenset(
    {
        SubscriptionStatus.INCOMPLETE,
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.UNPAID,
        SubscriptionStatus.PAUSED,
    }
)


@dataclass(frozen=True)
class SubscriptionSnapshot:
    """The current state of a subscription as read from Stripe (the source of truth)."""

    stripe_subscription_id: str
    stripe_customer_id: str
    status: SubscriptionStatus
    tier: Tier | None
    stripe_price_id: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    org_id: str | None = None
    price_lookup_key: str | None = None
    plan_tier_hint: str | None = None  # the plan_tier we put in the subscription's metadata
    started_at: datetime | None = None


@dataclass
class Subscription:
    org_id: str
    stripe_subscription_id: str
    stripe_customer_id: str
    status: SubscriptionStatus
    tier: Tier | None
    stripe_price_id: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    updated_at: datetime
    past_due_since: datetime | None = None
    started_at: datetime | None = None

    @property
    def in_first_period(self) -> bool:
        return (
            self.started_at is not None
            and self.current_period_start is not None
            and self.current_period_start <= self.started_at
        )

    @classmethod
    def from_snapshot(cls, org_id: str, snap: SubscriptionSnapshot, now: datetime) -> Subscription:
        sub = cls(
            org_id,
            snap.stripe_subscription_id,
            snap.stripe_customer_id,
            snap.status,
            snap.tier,
            snap.stripe_price_id,
            snap.current_period_start,
            snap.current_period_end,
            snap.cancel_at_period_end,
            snap.canceled_at,
            now,
            started_at=snap.started_at,
        )
        sub._track_past_due(None, now)
        return sub

    def apply(self, snap: SubscriptionSnapshot, now: datetime) -> bool:
        """Take Stripe's current state; answer whether anything changed."""
        before = replace(self)
        previous_status = self.status
        self.stripe_customer_id = snap.stripe_customer_id
        self.status = snap.status
        self.tier = snap.tier if snap.tier is not None else self.tier
        self.stripe_price_id = snap.stripe_price_id or self.stripe_price_id
        self.current_period_start = snap.current_period_start
        self.current_period_end = snap.current_period_end
        self.cancel_at_period_end = snap.cancel_at_period_end
        self.canceled_at = snap.canceled_at
        self.started_at = snap.started_at or self.started_at
        self._track_past_due(previous_status, now)
        changed = replace(self, updated_at=before.updated_at) != before
        if changed:
            self.updated_at = now
        return changed

    def _track_past_due(self, previous: SubscriptionStatus | None, now: datetime) -> None:
        if self.status is SubscriptionStatus.PAST_DUE:
            if previous is not SubscriptionStatus.PAST_DUE or self.past_due_since is None:
                self.past_due_since = now
        else:
            self.past_due_since = None
