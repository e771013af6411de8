"""The organization's webhook endpoints and the delivery of each message to each of them.

A delivery's attempts follow Standard Webhooks' (Svix's) schedule, stretched to about three
days; an endpoint whose delivery exhausts it is disabled until its owner replays."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 24
# A rotated secret keeps signing (beside the new one) this long, while receivers switch.
ROTATION_OVERLAP = timedelta(hours=24)
# Waits after the first attempt, the second, ...: 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h six
# times: twelve attempts over 67 h 35 min 5 s.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    *(timedelta(hours=10),) * 6,
)
MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE)
RESPONSE_SNIPPET_CHARS = 500


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@dataclass
class WebhookEndpoint:
    id: str
    org_id: str
    url: str
    secret: str
    created_at: datetime
    updated_at: datetime
    event_types: list[str] = field(default_factory=list)  # empty: every type
    description: str | None = None
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None
    enabled: bool = True
    disabled_at: datetime | None = None
    disabled_reason: str | None = None

    def subscribes_to(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and the rotated one while its overlap lasts."""
        found = [self.secret]
        if (
            self.previous_secret is not None
            and self.previous_secret_until is not None
            and now < self.previous_secret_until
        ):
            found.append(self.previous_secret)
        return found

    def rotate(self, new: str, now: datetime) -> None:
        self.previous_secret = self.secret
        self.previous_secret_until = now + ROTATION_OVERLAP
        self.secret = new
        self.updated_at = now

    def disable(self, now: datetime, reason: str) -> None:
        self.enabled = False
        self.disabled_at = now
        self.disabled_reason = reason
        self.updated_at = now

    def enable(self, now: datetime) -> None:
        self.enabled = True
        self.disabled_at = None
        self.disabled_reason = None
        self.updated_at = now


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed, or its endpoint was disabled; replay reopens it


@dataclass
class WebhookDelivery:
    id: str
    org_id: str
    message_id: str
    endpoint_id: str
    event_type: str
    created_at: datetime
    updated_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0  # claimed so far (an attempt counts from its claim, before the call)
    next_attempt_at: datetime | None = None
    lease_token: str | None = None
    leased_until: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    def succeed(self, now: datetime, status_code: int) -> None:
        self.status = DeliveryStatus.DELIVERED
        self.delivered_at = now
        self.last_status_code = status_code
        self.last_error = None
        self.next_attempt_at = None
        self._release(now)

    def fail(self, now: datetime, status_code: int | None, error: str | None) -> bool:
        """A failed attempt: the next is scheduled, or, after the last, the delivery fails.
        Answer whether the schedule is exhausted."""
        self.last_status_code = status_code
        self.last_error = error
        self._release(now)
        if self.attempts >= MAX_ATTEMPTS:
            self.status = DeliveryStatus.FAILED
            self.next_attempt_at = None
            return True
        self.next_attempt_at = now + RETRY_SCHEDULE[self.attempts - 1]
        return False

    def abandon(self, now: datetime, reason: str) -> None:
        self.status = DeliveryStatus.FAILED
        self.last_error = reason
        self.next_attempt_at = None
        self._release(now)

    def reopen(self, now: datetime) -> None:
        """Back in line, with the whole schedule again (an owner's replay)."""
        self.status = DeliveryStatus.PENDING
        self.attempts = 0
        self.next_attempt_at = now
        self._release(now)

    def _release(self, now: datetime) -> None:
        self.lease_token = None
        self.leased_until = None
        self.updated_at = now


@dataclass(frozen=True)
class DeliveryAttempt:
    """One HTTP call. Written when the attempt is claimed; its outcome when it ends (one with
    none is an attempt whose worker stopped mid-call)."""

    delivery_id: str
    number: int
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None
    response_snippet: str | None = None


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    error: str | None
    duration_ms: int
    response_snippet: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
