"""Check-and-consume quota: one counter round trip in the steady state.

The counter keeps each organization's window (limits and period) and counters; when it lacks
either, the window is loaded from the database, and a lost counter is rebuilt from the ledger
(after flushing pending ledger entries), so a rebuild never grants more than the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from domain.errors import NotAGauge, QuotaUnavailable
from domain.model.plans import Catalog, Metric
from domain.model.quotas import CounterReply, CounterStatus, QuotaDecision, QuotaWindow
from domain.ports import Clock, QuotaCounter, UnitOfWorkFactory
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


def load_window(deps: QuotaDeps, org_id: str) -> QuotaWindow:
    now = deps.clock.now()
    with deps.uow() as uow:
        entitlement = current_entitlement(uow, deps.catalog, org_id, now, deps.grace)
    return QuotaWindow.for_entitlement(org_id, entitlement, now)


def flush_ledger(deps: QuotaDeps, batch: int = LEDGER_BATCH) -> int:
    """Move acknowledged consumptions from the counter store to the Postgres ledger. Safe to run
    concurrently: entries are stored by their id once, then removed."""
    moved = 0
    while True:
        entries = deps.counter.pending_ledger(batch)
        if not entries:
            return moved
        with deps.uow() as uow:
            uow.quota_ledger.add_if_absent(entries)
            uow.commit()
        deps.counter.ack_ledger([e.entry_id for e in entries])
        moved += len(entries)
        if len(entries) < batch:
            return moved


def _rebuild(deps: QuotaDeps, org_id: str, metric: Metric, reply: CounterReply) -> None:
    assert reply.period_start is not None and reply.period_end is not None
    flush_ledger(deps)
    since = None if metric.is_gauge else reply.period_start
    with deps.uow() as uow:
        used = uow.quota_ledger.total(org_id, metric, since, None)
    deps.counter.seed(org_id, metric, reply.period_start, reply.period_end, max(used, 0))


def _prepared(deps: QuotaDeps, org_id: str, metric: Metric,
              call: Callable[[], CounterReply]) -> CounterReply:
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
    return QuotaDecision(allowed, metric, reply.used, reply.limit, resets_at,
                         duplicate=reply.status is CounterStatus.DUPLICATE)


def consume_quota(deps: QuotaDeps, org_id: str, metric: Metric, amount: int = 1,
                  idempotency_key: str | None = None) -> QuotaDecision:
    now = deps.clock.now()
    try:
        reply = _prepared(deps, org_id, metric, lambda: deps.counter.consume(
            org_id, metric, amount, now, idempotency_key))
    except QuotaUnavailable:
        if deps.fail_open:
            return QuotaDecision(True, metric, None, None, None, degraded=True)
        raise
    return _decision(metric, reply)


def release_quota(deps: QuotaDeps, org_id: str, metric: Metric, amount: int) -> QuotaDecision:
    if not metric.is_gauge:
        raise NotAGauge(f"{metric.value} counts per billing period and cannot be released; "
                        "only gauges (documents) can")
    now = deps.clock.now()
    reply = _prepared(deps, org_id, metric,
                      lambda: deps.counter.release(org_id, metric, amount, now))
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
