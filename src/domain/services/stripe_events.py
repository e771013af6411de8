"""Applying a stored Stripe event: one handler per type, in one transaction that also marks the
event settled. Handlers refetch the current object from Stripe where order matters, so
duplicates and any delivery order end in Stripe's state."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from domain.model.audit import AuditEntry
from domain.model.webhooks import InboxEvent, InboxStatus
from domain.ports import Clock, JobQueue, UnitOfWork, UnitOfWorkFactory
from domain.services import event_handlers as handlers
from domain.services.payment_deps import PaymentDeps
from domain.services.retry import retrying
from domain.services.webhook_intake import PROCESS_JOB

log = logging.getLogger(__name__)

# A handler answers the organization whose plan it may have changed, if any.
Handler = Callable[[PaymentDeps, UnitOfWork, dict[str, Any]], str | None]

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": handlers.checkout_completed,
    "checkout.session.expired": handlers.checkout_expired,
    "customer.subscription.created": handlers.subscription_changed,
    "customer.subscription.updated": handlers.subscription_changed,
    "customer.subscription.deleted": handlers.subscription_changed,
    "invoice.paid": handlers.invoice_paid,
    "invoice.payment_succeeded": handlers.invoice_paid,
    "invoice.payment_failed": handlers.invoice_payment_failed,
    "invoice.voided": handlers.invoice_changed,
    "invoice.marked_uncollectible": handlers.invoice_changed,
    "invoice.updated": handlers.invoice_changed,
}


_SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
_INVOICE_PAID_EVENTS = ("invoice.paid", "invoice.payment_succeeded")

# Events whose handler only refetches the object they name: one refetch, made after all of them
# were stored, leaves exactly the state that applying each in turn would, so the newest settles
# them all. Coalescing is an optimisation only: each event is still applied on its own when
# no sibling is pending.
COALESCED: dict[str, tuple[str, ...]] = {
    **{t: _SUBSCRIPTION_EVENTS for t in _SUBSCRIPTION_EVENTS},
    **{t: _INVOICE_PAID_EVENTS for t in _INVOICE_PAID_EVENTS},
}
MAX_COALESCED = 200


def _siblings(uow: UnitOfWork, event: InboxEvent) -> list[InboxEvent]:
    types = COALESCED.get(event.type)
    object_id = event.payload["data"]["object"].get("id")
    if types is None or not isinstance(object_id, str):
        return []
    return uow.inbox.lock_pending_siblings(event.id, types, object_id, MAX_COALESCED)


def handle_stripe_event(deps: PaymentDeps, event_id: str) -> InboxStatus | None:
    """Apply the event once, and with it every pending event about the same object (one
    refetch settles them all); a settled event (processed, ignored, parked, dead) is left
    alone. An exception leaves nothing half-applied: the caller records the failure. A
    transaction the database aborts to break a deadlock is applied again at once."""
    return retrying(lambda: _apply(deps, event_id))


def _apply(deps: PaymentDeps, event_id: str) -> InboxStatus | None:
    with deps.uow() as uow:
        event = uow.inbox.get(event_id, for_update=True)
        if event is None or event.is_settled:
            return event.status if event else None
        now = deps.clock.now()
        # Locked before the refetch: Stripe's answer is at least as new as each of them.
        settled = [event, *_siblings(uow, event)]
        for each in settled:
            each.record_attempt(now)
        touched = None
        handler = HANDLERS.get(event.type)
        status, reason = InboxStatus.IGNORED, None
        if handler is not None:
            try:
                acting = deps.acting_as(f"stripe:{event.id}")
                touched = handler(acting, uow, event.payload["data"]["object"])
                status = InboxStatus.PROCESSED
            except handlers.EventParked as parked:
                status, reason = InboxStatus.PARKED, parked.reason
        for each in settled:
            each.mark(status, now, error=reason)
            uow.inbox.save(each)
        uow.commit()
    if touched:
        deps.plan_changed(touched)
    if deps.api_version and event.api_version and event.api_version != deps.api_version:
        # Processed all the same: handlers refetch the object with the pinned version.
        log.warning(
            "stripe event of another API version",
            extra={
                "event_id": event.id,
                "event_type": event.type,
                "api_version": event.api_version,
                "pinned": deps.api_version,
            },
        )
    log.info(
        "stripe event %s",
        event.status.value,
        extra={
            "event_id": event.id,
            "event_type": event.type,
            "attempt": event.attempts,
            "coalesced": len(settled) - 1,
        },
    )
    return event.status


def record_failure(
    uow_factory: UnitOfWorkFactory, clock: Clock, event_id: str, error: str, final: bool
) -> InboxStatus | None:
    """Keep the failed attempt and its error; after the last retry the event is dead."""
    with uow_factory() as uow:
        event = uow.inbox.get(event_id, for_update=True)
        if event is None or event.is_settled:
            return event.status if event else None
        event.fail(error[-8000:], clock.now(), final)
        uow.inbox.save(event)
        uow.commit()
    return event.status


def replay_event(uow_factory: UnitOfWorkFactory, jobs: JobQueue, event_id: str) -> bool:
    """Put an event back in line (any status) and enqueue it; answer whether it exists."""
    with uow_factory() as uow:
        event = uow.inbox.get(event_id, for_update=True)
        if event is None:
            return False
        event.reopen()
        uow.inbox.save(event)
        uow.commit()
    jobs.enqueue(PROCESS_JOB, event_id)
    return True


def apply_as_event(
    deps: PaymentDeps, event_type: str, object_id: str, audit: Sequence[AuditEntry] = ()
) -> str | None:
    """Run the handler of an event type on a Stripe object, as if that event had been delivered:
    reconciliation repairs through exactly the code webhooks take, the audit entries in the
    same transaction. EventParked says why the handler could not apply it."""
    handler = HANDLERS[event_type]

    def once() -> str | None:
        with deps.uow() as uow:
            touched = handler(deps, uow, {"id": object_id})
            for entry in audit:
                uow.audit.record(entry)
            uow.commit()
        return touched

    touched = retrying(once)
    if touched:
        deps.plan_changed(touched)
    return touched
