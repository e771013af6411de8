"""Quota windows and decisions: which limits apply to an organization now, and for which period.

Counting metrics reset each billing period: the subscription's current period, or the calendar
month in UTC without one. Gauges (documents) count what exists now and never reset. Periods are
half-open [start, end).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from domain.errors import QuotaExceeded
from domain.model.entitlements import Entitlement
from domain.model.metering import UsageEvent, UsageSource
from domain.model.plans import Metric

GAUGE_PERIOD_START = datetime(1970, 1, 1, tzinfo=UTC)
GAUGE_PERIOD_END = datetime(9999, 1, 1, tzinfo=UTC)


def calendar_month(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def billing_period(entitlement: Entitlement, now: datetime) -> tuple[datetime, datetime]:
    """The subscription's current period; in its first period, counted from the start of the
    calendar month it began in, so usage before an upgrade is kept (a Free organization that
    upgrades mid-month keeps what it used this month). Without a subscription: the month."""
    sub = entitlement.subscription
    if entitlement.source.follows_subscription and sub is not None:
        start, end = sub.current_period_start, sub.current_period_end
        if start is not None and end is not None and start <= now < end:
            if sub.in_first_period:
                start = min(start, calendar_month(start)[0])
            return start, end
    return calendar_month(now)


@dataclass(frozen=True)
class QuotaWindow:
    """What the counter needs to decide alone: the plan's limits and the current period, the
    alert thresholds' levels per metric (threshold id -> level), the spend cap in voice words,
    and the marks of thresholds already fired this period (metric, threshold id), so that a
    counter store that lost them does not fire again."""

    org_id: str
    tier: str
    period_start: datetime
    period_end: datetime
    limits: dict[Metric, int | None] = field(default_factory=dict)
    alerts: dict[Metric, dict[str, int]] = field(default_factory=dict)
    cap_words: int | None = None
    fired: frozenset[tuple[str, str]] = frozenset()
    resolved: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def for_entitlement(cls, org_id: str, entitlement: Entitlement, now: datetime) -> QuotaWindow:
        start, end = billing_period(entitlement, now)
        limits = {metric: entitlement.plan.quota(metric).limit for metric in Metric}
        return cls(org_id, entitlement.plan.tier.value, start, end, limits)

    def mark_period(self, metric: str) -> datetime:
        """The period a mark of this metric (or of the voice cap) belongs to."""
        if any(m.value == metric and m.is_gauge for m in Metric):
            return GAUGE_PERIOD_START
        return self.period_start

    def period_for(self, metric: Metric) -> tuple[datetime, datetime]:
        if metric.is_gauge:
            return GAUGE_PERIOD_START, GAUGE_PERIOD_END
        return self.period_start, self.period_end


class CounterStatus(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    CAPPED = "capped"  # a voice consumption that would pass the spend cap
    DUPLICATE = "duplicate"
    NO_WINDOW = "no_window"  # the counter store has no current window for the organization
    NO_COUNTER = "no_counter"  # the counter for this period is missing: rebuild from the ledger


@dataclass(frozen=True)
class CounterReply:
    status: CounterStatus
    used: int = 0
    limit: int | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    spent_words: int | None = None  # CAPPED: the period's voice words so far, and the cap
    cap_words: int | None = None


@dataclass(frozen=True)
class FiredThreshold:
    """A threshold the counter marked as reached by this consumption or recording."""

    metric: Metric
    threshold_id: str
    level: int
    used: int
    limit: int | None = None  # the plan's limit of the metric then


@dataclass(frozen=True)
class RecordOutcome:
    """What a recording counted: thresholds it fired, and the period's voice words before and
    after it against the cap (None when there is no cap or a voice counter is missing)."""

    fired: tuple[FiredThreshold, ...] = ()
    voice_before: int | None = None
    voice_after: int | None = None
    cap_words: int | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None

    @property
    def passed_cap(self) -> bool:
        return (
            self.cap_words is not None
            and self.voice_after is not None
            and self.voice_after > self.cap_words
        )


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    metric: Metric
    used: int | None
    limit: int | None
    resets_at: datetime | None
    duplicate: bool = False
    degraded: bool = False  # answered without the counter (QUOTA_FAIL_OPEN)
    capped: bool = False  # refused by the spend cap, not the plan's limit
    spent_words: int | None = None
    cap_words: int | None = None

    @property
    def remaining(self) -> int | None:
        if self.limit is None or self.used is None:
            return None
        return max(self.limit - self.used, 0)

    def refusal(self) -> QuotaExceeded:
        """The error a refused decision answers: what was used of the limit and when it resets."""
        return QuotaExceeded(
            f"the plan's {self.metric.value} quota is used up ({self.used} of {self.limit})",
            allowed=self.allowed,
            metric=self.metric.value,
            used=self.used,
            limit=self.limit,
            remaining=self.remaining,
            resets_at=self.resets_at,
            duplicate=self.duplicate,
        )


@dataclass(frozen=True)
class LedgerEntry:
    """One acknowledged consumption (or release, negative), on its way to the usage ledger.
    `period_start` is the counter period it was counted in: if the ledger already holds its
    idempotency key (a key the counter had forgotten), the flush gives the amount back to
    that period's counter, so the counter and the ledger agree again."""

    entry_id: str
    org_id: str
    metric: Metric
    amount: int
    occurred_at: datetime
    idempotency_key: str | None = None
    period_start: datetime | None = None
    fired: tuple[FiredThreshold, ...] = ()  # thresholds this consumption reached
    # A marker (amount 0) of the period's first refusal by the spend cap: the voice words
    # spent then, and the cap in words.
    capped: tuple[int, int] | None = None
    period_end: datetime | None = None

    @property
    def is_marker(self) -> bool:
        """An entry that carries news only, no usage."""
        return self.capped is not None

    def as_usage(self, received_at: datetime) -> UsageEvent:
        source = UsageSource.RELEASED if self.amount < 0 else UsageSource.CONSUMED
        return UsageEvent(
            self.org_id,
            self.metric,
            self.amount,
            self.occurred_at,
            self.idempotency_key,
            received_at,
            source=source,
            entry_id=self.entry_id,
        )
