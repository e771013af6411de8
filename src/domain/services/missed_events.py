"""No missed event is lost: each reconciliation run lists Stripe's events and stores the ones
the inbox never received, to be processed exactly as if they had been delivered."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import WebhookMalformed
from domain.model.webhooks import InboxEvent
from domain.ports import JobQueue, UnitOfWorkFactory
from domain.services.payment_deps import PaymentDeps
from domain.services.stripe_events import HANDLERS
from domain.services.webhook_intake import PROCESS_JOB, envelope_of

log = logging.getLogger(__name__)

STRIPE_EVENT_RETENTION = timedelta(days=30)
# Deliveries arrive out of order and Stripe's `created` has one-second resolution: each run
# looks a little before where the last one stopped.
OVERLAP = timedelta(minutes=10)
_JOB_ID_SAFE = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(frozen=True)
class Recovery:
    since: datetime
    until: datetime
    listed: int
    recovered: int


def events_window_start(
    uow_factory: UnitOfWorkFactory, now: datetime, run_id: str | None = None
) -> datetime:
    """From where the last finished run stopped, or from the newest event in the inbox if that
    is older, never before Stripe's retention; the first run ever looks at all of it."""
    oldest = now - STRIPE_EVENT_RETENTION
    with uow_factory() as uow:
        previous = uow.reconciliation.latest_run(finished=True)
        newest = uow.reconciliation.newest_event_at()
    if previous is None or previous.id == run_id or previous.events_until is None:
        return oldest
    start = min(previous.events_until, newest or previous.events_until) - OVERLAP
    return max(start, oldest)


def recover_missed_events(
    deps: PaymentDeps,
    jobs: JobQueue,
    since: datetime,
    *,
    store: bool = True,
    page_size: int = 100,
) -> Recovery:
    """List the handled types' events since `since`; store each unknown one in the inbox
    (insert-if-absent, so a delivery racing this is stored once) and enqueue it."""
    now = deps.clock.now()
    listed = recovered = 0
    batch: list[InboxEvent] = []
    events = deps.require_gateway().list_events(
        created_since=since, types=sorted(HANDLERS), page_size=page_size
    )
    for body in events:
        listed += 1
        try:
            batch.append(envelope_of(body, now))
        except WebhookMalformed:
            log.warning("an event in Stripe's list has no id, type or object")
        if len(batch) >= page_size:
            recovered += _store_unknown(deps, jobs, batch, store)
            batch = []
    recovered += _store_unknown(deps, jobs, batch, store)
    return Recovery(since, now, listed, recovered)


def _store_unknown(deps: PaymentDeps, jobs: JobQueue, batch: list[InboxEvent], store: bool) -> int:
    """Store and enqueue the events of one page the inbox does not hold; answer how many."""
    if not batch:
        return 0
    with deps.uow() as uow:
        known = uow.reconciliation.known_events([e.id for e in batch])
    unknown = [e for e in batch if e.id not in known]
    if not store:
        return len(unknown)
    stored = 0
    for event in unknown:
        with deps.uow() as uow:
            new = uow.inbox.add_if_absent(event)
            uow.commit()
        if new:  # a delivery racing the run stored it first otherwise, and enqueued it
            stored += 1
            job_id = f"webhook-{event.id}" if _JOB_ID_SAFE.fullmatch(event.id) else None
            jobs.enqueue(PROCESS_JOB, event.id, job_id=job_id)
            log.info(
                "missed stripe event recovered",
                extra={"event_id": event.id, "event_type": event.type},
            )
    return stored
