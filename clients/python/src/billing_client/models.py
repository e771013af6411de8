"""What the billing service answers, as small typed values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def new_key() -> str:
    """An idempotency key: made once per logical call, reused by every retry of it."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class QuotaDecision:
    """A granted consumption (a refused one raises QuotaExceeded)."""

    metric: str
    used: int
    limit: int | None  # None: unlimited
    remaining: int | None
    resets_at: datetime | None  # None for gauges
    duplicate: bool  # the idempotency key was seen before: answered, not counted again
    idempotency_key: str

    @classmethod
    def from_json(cls, body: dict[str, Any], key: str) -> QuotaDecision:
        return cls(
            metric=body["metric"],
            used=body["used"],
            limit=body.get("limit"),
            remaining=body.get("remaining"),
            resets_at=_moment(body.get("resets_at")),
            duplicate=bool(body.get("duplicate")),
            idempotency_key=key,
        )


@dataclass(frozen=True)
class MetricQuota:
    metric: str
    used: int
    limit: int | None
    remaining: int | None
    resets_at: datetime | None


@dataclass(frozen=True)
class QuotaReport:
    plan: str
    period_start: datetime | None
    period_end: datetime | None
    metrics: dict[str, MetricQuota]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> QuotaReport:
        metrics = {
            m["metric"]: MetricQuota(
                m["metric"],
                m["used"],
                m.get("limit"),
                m.get("remaining"),
                _moment(m.get("resets_at")),
            )
            for m in body.get("metrics", [])
        }
        return cls(
            body.get("plan", ""),
            _moment(body.get("period_start")),
            _moment(body.get("period_end")),
            metrics,
        )


@dataclass(frozen=True)
class UsageEvent:
    """One unit of metered usage that already happened (never refused)."""

    metric: str
    quantity: int
    idempotency_key: str = field(default_factory=new_key)
    occurred_at: datetime | None = None  # timezone-aware; the service's clock when omitted
    conversation_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "metric": self.metric,
            "quantity": self.quantity,
            "idempotency_key": self.idempotency_key,
        }
        if self.occurred_at is not None:
            body["occurred_at"] = self.occurred_at.isoformat()
        if self.conversation_id is not None:
            body["conversation_id"] = self.conversation_id
        return body


@dataclass(frozen=True)
class UsageResult:
    accepted: int = 0
    duplicates: int = 0

    def __add__(self, other: UsageResult) -> UsageResult:
        return UsageResult(self.accepted + other.accepted, self.duplicates + other.duplicates)
