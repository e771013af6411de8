"""Reading the quota scripts' replies: times in epoch milliseconds, bytes or text, and what a
recording answers (see adapters/redis_scripts.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.model.plans import Metric
from domain.model.quotas import FiredThreshold, RecordOutcome

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    # Integer arithmetic: a float round trip could move a period boundary by a millisecond.
    return (moment - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: str | bytes) -> datetime:
    return EPOCH + timedelta(milliseconds=int(ms))


def as_text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def record_outcome(raw: list[Any]) -> RecordOutcome:
    if not raw:
        return RecordOutcome()
    fired_text, before, after, cap, start, end = (as_text(part) for part in raw)
    fired = []
    for item in fired_text.split(","):
        if item:
            metric, threshold_id, level, used, limit = item.split("|")
            fired.append(
                FiredThreshold(
                    Metric(metric),
                    threshold_id,
                    int(level),
                    int(used),
                    None if int(limit) < 0 else int(limit),
                )
            )
    known = int(before) >= 0
    return RecordOutcome(
        tuple(fired),
        int(before) if known else None,
        int(after) if known else None,
        int(cap) if int(cap) >= 0 else None,
        from_ms(start),
        from_ms(end),
    )


def spent_and_cap(text: str) -> tuple[int, int]:
    spent, cap = text.split("|")
    return int(spent), int(cap)
