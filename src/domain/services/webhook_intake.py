"""Webhook intake: verify, store once, enqueue only when new. Nothing is parsed beyond the
envelope here; the worker reads the object."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.errors import WebhookMalformed
from domain.model import webhook_signature
from domain.model.webhooks import InboxEvent
from domain.ports import Clock, JobQueue, UnitOfWorkFactory, WebhookIntakeStore

log = logging.getLogger(__name__)

PROCESS_JOB = "process_webhook_event"
_JOB_ID_SAFE = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(frozen=True)
class Receipt:
    event_id: str
    type: str
    duplicate: bool
    enqueued: bool


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_envelope(payload: bytes, now: datetime) -> InboxEvent:
    try:
        # UTF-8 only, and no NaN or Infinity (not JSON): the body is stored as it came, and
        # the inbox (JSONB on Postgres) could not store those.
        body: Any = json.loads(payload.decode(), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookMalformed("the body is not JSON (or nests too deeply)") from None
    if not isinstance(body, dict):
        raise WebhookMalformed("the body is not a JSON object")
    if b"\\u0000" in payload and _holds_nul(body):  # the scan runs only when it could match
        raise WebhookMalformed("the body holds a NUL character (\\u0000)")
    return envelope_of(body, now)


def _holds_nul(value: Any) -> bool:
    """A NUL character in any string or key: JSONB (the inbox on Postgres) cannot store one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def envelope_of(body: dict[str, Any], now: datetime) -> InboxEvent:
    """An event already decoded (from the body, or from Stripe's events list)."""
    event_id, type_, data = body.get("id"), body.get("type"), body.get("data")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        raise WebhookMalformed("the event has no id")
    if not isinstance(type_, str) or not 0 < len(type_) <= 100:
        raise WebhookMalformed("the event has no type")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise WebhookMalformed("the event has no data.object")
    created = body.get("created")
    try:
        created_at = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None
    except (OverflowError, OSError, ValueError):
        raise WebhookMalformed("the event's `created` is not a timestamp") from None
    api_version = body.get("api_version")
    return InboxEvent(
        event_id,
        type_,
        body,
        now,
        stripe_created_at=created_at,
        api_version=api_version if isinstance(api_version, str) else None,
        livemode=bool(body.get("livemode")),
    )


class UnitOfWorkIntake:
    """The intake's write through a unit of work: for stores without a dedicated intake path
    (the in-memory fakes). The payload stored is the decoded event."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self.uow_factory = uow_factory

    def add_if_absent(self, event: InboxEvent, payload: bytes) -> bool:
        with self.uow_factory() as uow:
            new = uow.inbox.add_if_absent(event)
            uow.commit()
        return new


def receive_stripe_event(
    uow_factory: UnitOfWorkFactory,
    jobs: JobQueue,
    clock: Clock,
    payload: bytes,
    signature: str | None,
    secrets: Sequence[str],
    verify: bool = True,
) -> Receipt:
    """`intake_stripe_event` through a unit of work."""
    intake = UnitOfWorkIntake(uow_factory)
    return intake_stripe_event(intake, jobs, clock, payload, signature, secrets, verify)


def intake_stripe_event(
    intake: WebhookIntakeStore,
    jobs: JobQueue,
    clock: Clock,
    payload: bytes,
    signature: str | None,
    secrets: Sequence[str],
    verify: bool = True,
) -> Receipt:
    """Verify the signature, store the event once by id, enqueue it when this call stored it.
    An event stored but not enqueued (Redis unreachable) is still answered as received: the
    sweep (`requeue_stale_events`) enqueues it later."""
    now = clock.now()
    if verify:
        webhook_signature.verify(payload, signature, secrets, now)
    event = parse_envelope(payload, now)
    new = intake.add_if_absent(event, payload)
    enqueued = False
    if new:
        try:
            job_id = f"webhook-{event.id}" if _JOB_ID_SAFE.fullmatch(event.id) else None
            jobs.enqueue(PROCESS_JOB, event.id, job_id=job_id)
            enqueued = True
        except Exception:  # noqa: BLE001 - stored is enough: the sweep enqueues it later
            log.warning(
                "webhook stored but not enqueued; the sweep will pick it up",
                extra={"event_id": event.id, "event_type": event.type},
            )
    return Receipt(event.id, event.type, not new, enqueued)


def requeue_stale_events(
    uow_factory: UnitOfWorkFactory,
    jobs: JobQueue,
    clock: Clock,
    never_tried_after: timedelta = timedelta(minutes=1),
    retried_after: timedelta = timedelta(minutes=15),
    limit: int = 500,
) -> int:
    """Enqueue events stored but still pending: a Redis outage between commit and enqueue, a
    worker killed mid-job, or a retry Redis lost. Processing is idempotent, so a duplicate job
    only finds the event settled."""
    now = clock.now()
    with uow_factory() as uow:
        stale = uow.inbox.stale(now - never_tried_after, now - retried_after, limit)
    for event_id in stale:
        jobs.enqueue(PROCESS_JOB, event_id)
    return len(stale)
