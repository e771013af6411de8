"""The reconciliation run: recover missed events, compare our books with Stripe's lists, repair
what Stripe owns through the webhook handlers, and keep one drift row per difference.

Stripe is read through its list endpoints, page by page; only a repair retrieves an object (the
handler's own refetch). Money and ownership are never changed here: reported for a person."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from domain.errors import DomainError, NotFound
from domain.model.audit import AuditEntry
from domain.model.ids import new_id
from domain.model.invoicing import InvoiceStatus
from domain.model.reconciliation import (
    Drift,
    DriftAction,
    LocalBooks,
    ReconciliationRun,
    Repair,
    RunStatus,
)
from domain.ports import JobQueue
from domain.services.drift_rules import StripeBooks, compare
from domain.services.event_handlers import EventParked
from domain.services.missed_events import (
    STRIPE_EVENT_RETENTION,
    events_window_start,
    recover_missed_events,
)
from domain.services.payment_deps import PaymentDeps
from domain.services.stripe_events import apply_as_event

log = logging.getLogger(__name__)

RUN_JOB = "reconcile_books"
T = TypeVar("T")
Progress = Callable[[int], None]  # told how many more Stripe objects were compared


@dataclass(frozen=True)
class ReconcileDeps:
    payments: PaymentDeps
    jobs: JobQueue
    page_size: int = 100
    # Invoices and completed checkouts are listed this far back (and further for any of our
    # invoices still unpaid): older ones are settled.
    lookback: timedelta = STRIPE_EVENT_RETENTION


def open_run(
    deps: ReconcileDeps,
    *,
    org_id: str | None = None,
    fix: bool = False,
    dry_run: bool = False,
    actor: str = "system",
) -> ReconciliationRun:
    """A queued run (a dry run is never stored: it changes nothing, this included)."""
    run = ReconciliationRun(
        new_id("rec"),
        deps.payments.clock.now(),
        org_id=org_id,
        fix=fix and not dry_run,
        dry_run=dry_run,
        actor=actor,
    )
    if not dry_run:
        with deps.payments.uow() as uow:
            uow.reconciliation.add_run(run)
            uow.commit()
    return run


def queue_run(
    deps: ReconcileDeps, *, org_id: str | None, fix: bool, actor: str
) -> ReconciliationRun:
    run = open_run(deps, org_id=org_id, fix=fix, actor=actor)
    deps.jobs.enqueue(RUN_JOB, run.id, job_id=f"reconcile-{run.id}")
    return run


def run_report(
    deps: ReconcileDeps, run_id: str, limit: int, offset: int = 0
) -> tuple[ReconciliationRun, list[Drift]]:
    with deps.payments.uow() as uow:
        run = uow.reconciliation.get_run(run_id)
        if run is None:
            raise NotFound(f"no reconciliation run {run_id!r}")
        return run, uow.reconciliation.drifts_of(run_id, limit, offset)


def latest_report(deps: ReconcileDeps, limit: int) -> tuple[ReconciliationRun, list[Drift]] | None:
    with deps.payments.uow() as uow:
        run = uow.reconciliation.latest_run()
        if run is None:
            return None
        return run, uow.reconciliation.drifts_of(run.id, limit)


@dataclass(frozen=True)
class RunResult:
    run: ReconciliationRun
    drifts: list[Drift]


def reconcile(
    deps: ReconcileDeps, run: ReconciliationRun, progress: Progress | None = None
) -> RunResult:
    """Carry out a run opened by `open_run`; answer it with its drift rows. A queued run is
    taken once: a second job for it finds it running or finished and does nothing."""
    payments = deps.payments
    if not run.dry_run:
        with payments.uow() as uow:
            uow.lock(f"reconciliation-run:{run.id}")  # two jobs for one run: one takes it
            stored = uow.reconciliation.get_run(run.id)
            if stored is None or stored.status is not RunStatus.QUEUED:
                return RunResult(stored or run, [])
            run = stored
            run.start(payments.clock.now())
            uow.reconciliation.save_run(run)
            uow.commit()
    else:
        run.start(payments.clock.now())
    try:
        drifts = _carry_out(deps, run, progress or (lambda _n: None))
    except Exception as exc:
        run.fail(f"{type(exc).__name__}: {exc}", payments.clock.now())
        _save(deps, run)
        raise
    return RunResult(run, drifts)


def _save(deps: ReconcileDeps, run: ReconciliationRun, drifts: Iterable[Drift] = ()) -> None:
    if run.dry_run:
        return
    with deps.payments.uow() as uow:
        uow.reconciliation.add_drifts(list(drifts))
        uow.reconciliation.save_run(run)
        uow.commit()


def _carry_out(deps: ReconcileDeps, run: ReconciliationRun, progress: Progress) -> list[Drift]:
    payments = deps.payments
    now = payments.clock.now()
    since = events_window_start(payments.uow, now, run.id)
    recovery = recover_missed_events(
        payments, deps.jobs, since, store=not run.dry_run, page_size=deps.page_size
    )
    run.events_since, run.events_until = recovery.since, recovery.until
    run.counts.events_listed = recovery.listed
    run.counts.events_recovered = recovery.recovered
    with payments.uow() as uow:
        books = uow.reconciliation.books(run.org_id)
        if payments.api_version:
            run.counts.other_api_version_events = uow.reconciliation.other_api_version_events(
                since, payments.api_version
            )
    stripe = _read_stripe(deps, books, run.org_id, now, progress)
    drifts = compare(books, stripe, payments.prices)
    with payments.uow() as uow:
        earlier = uow.reconciliation.last_seen([d.key for d in drifts])
    for drift in drifts:
        drift.run_id = run.id
        drift.seen_before(earlier.get(drift.key), now)
    _repair(deps, run, drifts)
    counts = run.counts
    counts.objects_compared = stripe.objects
    counts.drifts = len(drifts)
    counts.new_drifts = sum(d.new for d in drifts)
    counts.repaired = sum(d.action is DriftAction.REPAIRED for d in drifts)
    counts.reported = counts.drifts - counts.repaired
    run.finish(payments.clock.now())
    _save(deps, run, drifts)
    log.info(
        "reconciliation finished",
        extra={"run_id": run.id, "org_id": run.org_id, **vars(counts)},
    )
    return drifts


def _counted(items: Iterator[T], progress: Progress) -> list[T]:
    found = []
    for item in items:
        found.append(item)
        if len(found) % 100 == 0:
            progress(100)
    progress(len(found) % 100)
    return found


def _read_stripe(
    deps: ReconcileDeps, books: LocalBooks, org_id: str | None, now: datetime, progress: Progress
) -> StripeBooks:
    gateway = deps.payments.require_gateway()
    size = deps.page_size
    unpaid = [
        i.created_at
        for i in books.invoices
        if i.status in (InvoiceStatus.OPEN, InvoiceStatus.PAST_DUE)
    ]
    invoices_since = min([now - deps.lookback, *unpaid])
    sessions_since = now - deps.lookback
    if org_id is None:
        return StripeBooks(
            customers=_counted(gateway.list_customers(page_size=size), progress),
            subscriptions=_counted(gateway.list_subscriptions(page_size=size), progress),
            invoices=_counted(
                gateway.list_invoices(created_since=invoices_since, page_size=size), progress
            ),
            sessions=_counted(
                gateway.list_completed_checkout_sessions(
                    created_since=sessions_since, page_size=size
                ),
                progress,
            ),
            invoices_since=invoices_since,
        )
    stripe = StripeBooks(customers=None, invoices_since=invoices_since)
    for customer in books.customers:  # one organization: its one customer
        cid = customer.stripe_customer_id
        stripe.subscriptions += _counted(
            gateway.list_subscriptions(customer_id=cid, page_size=size), progress
        )
        stripe.invoices += _counted(
            gateway.list_invoices(created_since=invoices_since, customer_id=cid, page_size=size),
            progress,
        )
        stripe.sessions += _counted(
            gateway.list_completed_checkout_sessions(
                created_since=sessions_since, customer_id=cid, page_size=size
            ),
            progress,
        )
    return stripe


def _repair(deps: ReconcileDeps, run: ReconciliationRun, drifts: list[Drift]) -> None:
    """Each safe drift through the handler of its object, once per object; an audit entry
    `reconcile:<run id>` for each drift, in the repair's transaction."""
    by_repair: dict[Repair, list[Drift]] = {}
    for drift in drifts:
        if drift.repair is not None:
            by_repair.setdefault(drift.repair, []).append(drift)
    acting = deps.payments.acting_as(run.audit_actor)
    for repair, group in by_repair.items():
        if not run.fix:
            for drift in group:
                drift.action = DriftAction.WOULD_REPAIR
            continue
        now = deps.payments.clock.now()
        audit = [
            AuditEntry(
                drift.org_id or "",
                now,
                run.audit_actor,
                "reconciliation.repaired",
                {
                    "run_id": run.id,
                    "object_type": drift.object_type.value,
                    "object_id": drift.object_id,
                    "kind": drift.kind.value,
                    "ours": drift.ours,
                    "stripe": drift.theirs,
                    "through": repair.event_type,
                },
            )
            for drift in group
            if drift.org_id
        ]
        try:
            apply_as_event(acting, repair.event_type, repair.object_id, audit)
        except (EventParked, DomainError) as refused:
            reason = getattr(refused, "reason", None) or str(refused)
            for drift in group:
                drift.action, drift.note = DriftAction.REPAIR_FAILED, reason
            continue
        for drift in group:
            drift.action = DriftAction.REPAIRED
