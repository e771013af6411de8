"""Recording usage that already happened: validated as a whole, stored once per key in the
usage ledger, and counted toward the quota at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import QuotaUnavailable, UsageRejected
from domain.model.ids import new_id
from domain.model.metering import UsageEvent
from domain.model.plans import Metric
from domain.model.quotas import RecordOutcome
from domain.services.alert_events import announce_recorded
from domain.services.quotas import QuotaDeps
from domain.services.retry import retrying, usage_lock

MAX_BATCH = 1000
MAX_QUANTITY = 2**53 - 1
FUTURE_SKEW = timedelta(minutes=5)
COUNTER_RETRY_DELAYS = (0.02, 0.08, 0.2, None)


@dataclass(frozen=True)
class UsageInput:
    metric: Metric
    quantity: int
    idempotency_key: str
    occurred_at: datetime | None = None
    conversation_id: str | None = None


@dataclass(frozen=True)
class UsageReceipt:
    accepted: int
    duplicates: int


def record_usage(deps: QuotaDeps, org_id: str, inputs: Sequence[UsageInput]) -> UsageReceipt:
    """All or nothing: one bad event refuses the batch (naming its index and field); the rest
    is written to the usage ledger in one transaction, skipping keys already stored, and counted
    into the organization's quota counters at once (never refused: it already happened). Late
    events are accepted and billed on the next usage invoice."""
    now = deps.clock.now()
    _validate(inputs, now)
    events = sorted(
        (
            UsageEvent(
                org_id,
                item.metric,
                item.quantity,
                item.occurred_at or now,
                item.idempotency_key,
                now,
                item.conversation_id,
            )
            for item in inputs
        ),
        key=lambda e: e.lock_order,
    )
    stored = retrying(lambda: _store(deps, org_id, events))
    return UsageReceipt(len(stored), len(events) - len(stored))


def _store(deps: QuotaDeps, org_id: str, events: list[UsageEvent]) -> list[UsageEvent]:
    # Opaque: only its being new for each call matters. `counted` is only tested for truth.
    token = new_id("rec")  # pragma: no mutate
    counted: list[tuple[Metric, datetime, int]] = []  # pragma: no mutate
    try:
        with deps.uow() as uow:
            uow.lock_shared(usage_lock(org_id))
            stored = uow.usage_events.add_if_absent(events)
            # Counted before the commit, under the lock: a counter rebuild either reads these
            # rows or sees the counter already holding them, never neither nor both.
            usage = [(e.metric, e.occurred_at, e.quantity) for e in stored if e.quantity]
            # Marked as counted before the call: a call whose reply was lost may have counted,
            # and undoing a token the counter never saw does nothing.
            counted = usage
            if usage:
                outcome = _count(deps, lambda: deps.counter.record(org_id, usage, token))
                # What it fired and what passed the spend cap, in this transaction.
                if outcome is not None:
                    announce_recorded(
                        uow, org_id, stored, outcome, deps.price, events[0].received_at
                    )
            uow.commit()
    except BaseException:
        if counted:  # counted but not kept: take it back (the counter over-counts, refusing
            # early rather than granting too much, only if Redis stays away for the undo too)
            _count(
                deps,  # pragma: no mutate (a quiet call never reads it)
                lambda: deps.counter.undo_record(org_id, counted, token),
                quiet=True,
            )
        raise
    return stored


def _count(
    deps: QuotaDeps, call: Callable[[], RecordOutcome | None], quiet: bool = False
) -> RecordOutcome | None:
    """A counter call that a lost reply makes safe to repeat: a few tries over ~0.3 s ride out
    a slow moment of Redis; past that the batch is refused (nothing stored, retry it) unless
    QUOTA_FAIL_OPEN."""
    for delay in COUNTER_RETRY_DELAYS:
        try:
            return call()
        except QuotaUnavailable:
            if delay is None:
                if quiet or deps.fail_open:
                    return None
                raise
            time.sleep(delay)
    return None


def _validate(inputs: Sequence[UsageInput], now: datetime) -> None:
    errors: dict[str, dict[str, list[str]]] = {}
    for index, item in enumerate(inputs):
        problems: dict[str, list[str]] = {}
        if isinstance(item.quantity, bool) or not 0 <= item.quantity <= MAX_QUANTITY:
            problems["quantity"] = [f"must be an integer from 0 to {MAX_QUANTITY}"]
        if item.occurred_at is not None and item.occurred_at > now + FUTURE_SKEW:
            problems["occurred_at"] = ["is more than 5 minutes in the future"]
        if problems:
            errors[str(index)] = problems
    if not 1 <= len(inputs) <= MAX_BATCH:
        raise UsageRejected(f"send 1 to {MAX_BATCH} events", errors={"events": ["bad size"]})
    if errors:
        raise UsageRejected(
            "some events are invalid; nothing was stored", errors={"json": {"events": errors}}
        )
