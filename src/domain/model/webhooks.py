"""The webhook inbox: every Stripe event stored once, then applied once by the worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class InboxStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    IGNORED = "ignored"
    PARKED = "parked"  # cannot be applied yet (e.g. unknown customer); kept for an operator
    DEAD = "dead"  # failed after every retry; kept with its last error for replay


@dataclass
class InboxEvent:
    id: str
    type: str
    payload: dict[str, Any]
    received_at: datetime
    stripe_created_at: datetime | None = None
    api_version: str | None = None
    livemode: bool = False
    status: InboxStatus = InboxStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    processed_at: datetime | None = None
    last_attempt_at: datetime | None = None

    def mark(self, status: InboxStatus, now: datetime, error: str | None = None) -> None:
        self.status = status
        self.last_error = error
        if status in (InboxStatus.PROCESSED, InboxStatus.IGNORED):
            self.processed_at = now

    def record_attempt(self, now: datetime) -> None:
        self.attempts += 1
        self.last_attempt_at = now

    def fail(self, error: str, now: datetime, final: bool) -> None:
        """A failed attempt: kept pending for the retry, or dead after the last one."""
        self.record_attempt(now)
        self.last_error = error
        self.status = InboxStatus.DEAD if final else InboxStatus.PENDING

    @property
    def is_settled(self) -> bool:
        return self.status is not InboxStatus.PENDING

    def reopen(self) -> None:
        """Put a dead or parked event back in line for an operator's replay."""
        self.status = InboxStatus.PENDING
        self.last_error = None
