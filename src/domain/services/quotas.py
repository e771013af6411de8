"""Check-and-consume quota: one counter round trip in the steady state.

The counter keeps each organization's window (limits and period) and counters; when it lacks
either, the window is loaded from the database, and a lost counter is rebuilt from the usage
ledger (after flushing pending entries, and holding the organization's usage lock so that no
recorded usage slips between the read and the seed), so a rebuild never grants more than the
limit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from domain.errors import NotAGauge, QuotaUnavailable
from domain.model.invoicing import UsagePrice
from domain.model.plans import Catalog, Metric
from domain.model.quotas import (
    CounterReply,
    CounterStatus,
    LedgerEntry,
    QuotaDecision,
    QuotaWindow,
)
from domain.ports import Clock, QuotaCounter, UnitOfWorkFactory
from domain.services.alert_events import announce_flushed, with_alerts
from domain.services.retry import retrying, usage_lock
from domain.services.standing import current_entitlement

LEDGER_BATCH = 5000


@dataclass(frozen=True)
class QuotaDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    catalog: Catalog
    counter: QuotaCounter
    grace: timedelta
    fail_open: bool = False
    # The voice price: the spend cap is enforced in words.
    price: UsagePrice = field(default_factory=lambda: UsagePrice(Decimal("1.00")))


def load_window(deps: QuotaDeps, org_id: str) -> QuotaWindow:
    """The plan's limits and period with the alert thresholds, the cap and what fired; the
    firings that no longer hold are resolved here, in this unit of work."""
    now = deps.clock.now()

    def load() -> QuotaWindow:
        with deps.uow() as uow:
            entitlement = current_entitlement(uow, deps.catalog, org_id, now, deps.grace)
            window = QuotaWindow.for_entitlement(org_id, entitlement, now)
            window = with_alerts(uow, window, deps.price, now)
            uow.commit()
        return window

    return retrying(load)


def refresh_window(deps: QuotaDeps, org_id: str) -> None:
    """Set the organization's window now (its alerts or cap changed); if the counter is
    unreachable, the window it holds expires on its own within a minute."""
    try:
        deps.counter.set_window(load_window(deps, org_id), deps.clock.now())
    except QuotaUnavailable:
        pass


def flush_ledger(deps: QuotaDeps, size: int = LEDGER_BATCH, org_id: str | None = None) -> int:
    """Move acknowledged consumptions from the counter store into the usage ledger. Safe to run
    concurrently: entries are stored by their id once, then removed. An entry whose idempotency
    key the ledger already holds (recorded usage with that key, or a key the counter forgot)
    is a duplicate: its amount is given back to the counter. With `org_id`, only that
    organization's entries (what a rebuild of its counter needs)."""
    moved = 0
    while True:
        entries = deps.counter.pending_ledger(size, org_id)
        if not entries:
            return moved
        refunds = retrying(functools.partial(_store_entries, deps, entries))
        deps.counter.ack_ledger(entries, refunds)
        moved += len(entries)
        if len(entries) < size:
            return moved


def _store_entries(deps: QuotaDeps, entries: list[LedgerEntry]) -> list[LedgerEntry]:
    received = deps.clock.now()
    usage = sorted(
        (e.as_usage(received) for e in entries if not e.is_marker), key=lambda u: u.lock_order
    )
    with deps.uow() as uow:
        stored = {u.entry_id for u in uow.usage_events.add_if_absent(usage)}
        missed = [e.entry_id for e in entries if e.entry_id not in stored]
        # Looking up no ids finds none: the condition only saves a query.
        flushed_before = (
            uow.usage_events.stored_entry_ids(missed)  # pragma: no mutate
            if missed
            else set()
        )
        announce_flushed(
            uow, [e for e in entries if e.entry_id in stored or e.is_marker], deps.price
        )
        uow.commit()
    return [
        e
        for e in entries
        if e.entry_id not in stored and e.entry_id not in flushed_before and not e.is_marker
    ]


def _rebuild(deps: QuotaDeps, org_id: str, metric: Metric, reply: CounterReply) -> None:
    start, end = reply.period_start, reply.period_end
    assert start is not None and end is not None
    flush_ledger(deps, org_id=org_id)

    # The spend cap reads both voice counters: a voice consumption rebuilds both.
    metrics = [m for m in Metric if m.is_voice] if metric.is_voice else [metric]

    def seed() -> None:
        # This unit of work writes nothing: it holds the usage lock over the read and the seed,
        # and leaving it (a rollback) lets recorders go on.
        with deps.uow() as uow:
            uow.lock(usage_lock(org_id))
            for m in metrics:
                used = (
                    uow.usage_events.total(org_id, m, None, None)
                    if m.is_gauge
                    else uow.usage_events.total(org_id, m, start, end)
                )
                deps.counter.seed(org_id, m, start, end, max(used, 0))

    retrying(seed)


def _prepared(
    deps: QuotaDeps, org_id: str, metric: Metric, call: Callable[[], CounterReply]
) -> CounterReply:
    for _ in range(4):
        reply = call()
        if reply.status is CounterStatus.NO_WINDOW:
            deps.counter.set_window(load_window(deps, org_id), deps.clock.now())
        elif reply.status is CounterStatus.NO_COUNTER:
            _rebuild(deps, org_id, metric, reply)
        else:
            return reply
    raise QuotaUnavailable("the quota counter could not be prepared; retry")


def _decision(metric: Metric, reply: CounterReply) -> QuotaDecision:
    allowed = reply.status in (CounterStatus.OK, CounterStatus.DUPLICATE)
    resets_at = None if metric.is_gauge else reply.period_end
    return QuotaDecision(
        allowed,
        metric,
        reply.used,
        reply.limit,
        resets_at,
        duplicate=reply.status is CounterStatus.DUPLICATE,
        capped=reply.status is CounterStatus.CAPPED,
        spent_words=reply.spent_words,
        cap_words=reply.cap_words,
    )


def consume_quota(
    deps: QuotaDeps,
    org_id: str,
    metric: Metric,
    amount: int = 1,
    idempotency_key: str | None = None,
) -> QuotaDecision:
    now = deps.clock.now()
    try:
        reply = _prepared(
            deps,
            org_id,
            metric,
            lambda: deps.counter.consume(org_id, metric, amount, now, idempotency_key),
        )
    except QuotaUnavailable:
        if deps.fail_open:
            return QuotaDecision(True, metric, None, None, None, degraded=True)
        raise
    return _decision(metric, reply)


def release_quota(deps: QuotaDeps, org_id: str, metric: Metric, amount: int) -> QuotaDecision:
    if not metric.is_gauge:
        raise NotAGauge(
            f"{metric.value} counts per billing period and cannot be released; "
            "only gauges (documents) can"
        )
    now = deps.clock.now()
    reply = _prepared(
        deps, org_id, metric, lambda: deps.counter.release(org_id, metric, amount, now)
    )
    return _decision(metric, reply)


@dataclass(frozen=True)
class QuotaReport:
    window: QuotaWindow
    decisions: list[QuotaDecision]


def quota_status(deps: QuotaDeps, org_id: str) -> QuotaReport:
    """Every metric's standing now (reads the plan from the database: not the hot path)."""
    now = deps.clock.now()
    window = load_window(deps, org_id)

    def peek(metric: Metric) -> Callable[[], CounterReply]:
        return lambda: deps.counter.peek(org_id, metric, now)

    decisions = [_decision(m, _prepared(deps, org_id, m, peek(m))) for m in Metric]
    return QuotaReport(window, decisions)
