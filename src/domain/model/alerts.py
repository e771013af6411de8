"""Usage alerts and the spend cap: what an owner asks to be told, and when spending stops.

A threshold is a share of the plan's limit (percent) or an absolute amount of one metric. It
fires once per period (and per level: a bigger plan moves a share's level) and resolves with a
new period, or when the level it fired at is no longer reached (a bigger plan, fewer documents).
The spend cap bounds the metered voice charge of a period: (stt_words + tts_words) / 1,000 x the
usage rate, charged once over the period's words; the counter enforces it as a number of words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, localcontext
from enum import StrEnum

from domain.errors import AlertThresholdInvalid, SpendCapInvalid
from domain.model.charge_limits import MAXIMUM_AMOUNT_MINOR
from domain.model.money import Money, minor_units_per_major
from domain.model.outbound import QUOTA_EXHAUSTED, QUOTA_THRESHOLD_REACHED
from domain.model.plans import Metric

DEFAULT_PERCENTS = (80, 100)
MAX_THRESHOLDS = 20
MAX_AMOUNT = 2**53 - 1
SPEND_CAP = "spend_cap"  # the threshold id and "metric" of the cap's reached state
VOICE = "voice"


class ThresholdKind(StrEnum):
    PERCENT = "percent"  # of the plan's limit
    AMOUNT = "amount"  # an absolute number of units


@dataclass(frozen=True)
class AlertThreshold:
    metric: Metric
    kind: ThresholdKind
    value: int

    @property
    def id(self) -> str:
        return f"{self.kind.value}:{self.value}"

    def level(self, limit: int | None) -> int | None:
        """The usage at which it fires; a percent of an unlimited metric never does."""
        if self.kind is ThresholdKind.AMOUNT:
            return self.value
        if limit is None:
            return None
        return max(1, -(-limit * self.value // 100))  # ceiling, integers only

    def event_type(self, limit: int | None) -> str:
        level = self.level(limit)
        exhausted = limit is not None and level is not None and level >= limit
        return QUOTA_EXHAUSTED if exhausted else QUOTA_THRESHOLD_REACHED


def parse_threshold_id(threshold_id: str) -> tuple[ThresholdKind, int]:
    kind, _, value = threshold_id.partition(":")
    return ThresholdKind(kind), int(value)


def default_thresholds(limits: Mapping[Metric, int | None]) -> tuple[AlertThreshold, ...]:
    """80% and 100% of every metric the plan limits."""
    return tuple(
        AlertThreshold(metric, ThresholdKind.PERCENT, percent)
        for metric in Metric
        if limits.get(metric) is not None
        for percent in DEFAULT_PERCENTS
    )


def check_thresholds(
    thresholds: Sequence[AlertThreshold], limits: Mapping[Metric, int | None]
) -> tuple[AlertThreshold, ...]:
    """Validated and without repeats, in a stable order; raises AlertThresholdInvalid."""
    if len(thresholds) > MAX_THRESHOLDS:
        raise AlertThresholdInvalid(f"at most {MAX_THRESHOLDS} thresholds")
    for index, t in enumerate(thresholds):
        where = {"index": index, "metric": t.metric.value}
        if t.kind is ThresholdKind.PERCENT:
            if not 1 <= t.value <= 100:
                raise AlertThresholdInvalid("a percent threshold is 1 to 100", **where)
            if limits.get(t.metric) is None:
                raise AlertThresholdInvalid(
                    f"the plan does not limit {t.metric.value}: give an amount, not a percent",
                    **where,
                )
        elif not 1 <= t.value <= MAX_AMOUNT:
            raise AlertThresholdInvalid(f"an amount threshold is 1 to {MAX_AMOUNT}", **where)
    unique = {(t.metric, t.kind, t.value): t for t in thresholds}
    return tuple(sorted(unique.values(), key=lambda t: (t.metric.value, t.kind.value, t.value)))


def check_spend_cap(amount_minor: int, currency: str, usage_currency: str) -> Money:
    """The cap as Money, or SpendCapInvalid: in the usage currency, 1 to Stripe's maximum."""
    if currency != usage_currency:
        raise SpendCapInvalid(
            f"the spend cap is in the usage currency, {usage_currency}", currency=currency
        )
    if isinstance(amount_minor, bool) or not 1 <= amount_minor <= MAXIMUM_AMOUNT_MINOR:
        raise SpendCapInvalid(f"amount_minor is 1 to {MAXIMUM_AMOUNT_MINOR}")
    return Money(amount_minor, currency)


def cap_words(cap: Money, per_thousand: Decimal) -> int:
    """The most voice words whose charge stays within the cap (exact, then floored)."""
    with localcontext() as exact:
        exact.prec = 100  # pragma: no mutate
        major = Decimal(cap.amount_minor) / minor_units_per_major(cap.currency)
        words = (major * 1000 / per_thousand).to_integral_value(rounding=ROUND_FLOOR)
    return int(words)


@dataclass(frozen=True)
class AlertSettings:
    """An organization's choices; `thresholds=None` means the defaults of its plan."""

    org_id: str
    thresholds: tuple[AlertThreshold, ...] | None = None
    spend_cap: Money | None = None
    updated_at: datetime | None = None

    def effective(self, limits: Mapping[Metric, int | None]) -> tuple[AlertThreshold, ...]:
        if self.thresholds is None:
            return default_thresholds(limits)
        return self.thresholds

    def with_thresholds(
        self, thresholds: tuple[AlertThreshold, ...] | None, now: datetime
    ) -> AlertSettings:
        return replace(self, thresholds=thresholds, updated_at=now)

    def with_spend_cap(self, cap: Money | None, now: datetime) -> AlertSettings:
        return replace(self, spend_cap=cap, updated_at=now)


@dataclass(frozen=True)
class AlertState:
    """A threshold (or the cap) reached in one period at one level; kept, then resolved."""

    org_id: str
    metric: str  # a Metric's value, or "voice" for the spend cap
    threshold_id: str
    period_start: datetime
    level: int
    fired_at: datetime
    used: int = 0
    resolved_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str, datetime, int]:
        return (self.metric, self.threshold_id, self.period_start, self.level)

    def resolved(self, at: datetime) -> AlertState:
        return replace(self, resolved_at=at)


def announce_key(state: AlertState, what: str = "alert") -> str:
    """The outbox dedupe key of one firing (or its reset): a redelivered entry never
    announces twice."""
    ms = int(state.period_start.timestamp() * 1000)
    return f"{what}:{state.metric}:{state.threshold_id}:{ms}:{state.level}"
