"""No missed event is lost: each reconciliation run lists Stripe's events and stores the ones
the inbox never received, to be processed exactly as if they had been delivered."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import WebhookMalformed
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
    for body in deps.require_gateway().list_events(
        created_since=since, types=sorted(HANDLERS), page_size=page_size
    ):
        listed += 1
        try:
            event = envelope_of(body, now)
        except WebhookMalformed:
            log.warning("an event in Stripe's list has no id, type or object")
            continue
        with deps.uow() as uow:
            known = uow.inbox.get(event.id) is not None
            new = False if known or not store else uow.inbox.add_if_absent(event)
            uow.commit()
        if known:
            continue
        recovered += 1
        if new:
            job_id = f"webhook-{event.id}" if _JOB_ID_SAFE.fullmatch(event.id) else None
            jobs.enqueue(PROCESS_JOB, event.id, job_id=job_id)
            log.info(
                "missed stripe event recovered",
                extra={"event_id": event.id, "event_type": event.type},
            )
    return Recovery(since, now, listed, recovered)
