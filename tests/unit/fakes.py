"""In-memory fakes for every port. They keep the same rules the real adapters keep
(unique keys, insert-if-absent), so services behave the same on both."""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from domain.errors import QuotaUnavailable
from domain.model.alerts import AlertSettings, AlertState
from domain.model.audit import AuditEntry, SubscriptionChange
from domain.model.checkouts import CheckoutRecord
from domain.model.customers import StripeCustomer
from domain.model.invoicing import InvoiceStatus, UsageInvoice, totals_of
from domain.model.metering import LinkedTotal, UsageEvent, UsageTotal
from domain.model.organizations import Organization
from domain.model.outbound import OutboxMessage
from domain.model.plans import Metric
from domain.model.purchases import OneTimePurchase
from domain.model.quotas import (
    GAUGE_PERIOD_END,
    GAUGE_PERIOD_START,
    CounterReply,
    CounterStatus,
    FiredThreshold,
    LedgerEntry,
    QuotaWindow,
    RecordOutcome,
)
from domain.model.subscriptions import Subscription, SubscriptionStatus
from domain.model.webhook_endpoints import (
    DeliveryAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from domain.model.webhooks import InboxEvent, InboxStatus
from tests.unit.fake_reconciliation import FakeReconciliation
from tests.unit.outbound_fakes import (
    FakeOutbox,
    FakeResolver,
    FakeWebhookDeliveries,
    FakeWebhookEndpoints,
    FakeWebhookSender,
)


class FakeClock:
    def __init__(self, now: datetime | None = None) -> None:
        self._now = now or datetime(2026, 11, 15, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)

    def set(self, now: datetime) -> None:
        self._now = now


@dataclass
class FakeStore:
    """What a database would hold; shared by every unit of work of one factory."""

    organizations: dict[str, Organization] = field(default_factory=dict)
    customers: dict[str, StripeCustomer] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    purchases: dict[str, OneTimePurchase] = field(default_factory=dict)
    checkouts: dict[str, CheckoutRecord] = field(default_factory=dict)
    usage_events: list[UsageEvent] = field(default_factory=list)
    usage_invoices: dict[str, UsageInvoice] = field(default_factory=dict)
    inbox: dict[str, InboxEvent] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    history: list[SubscriptionChange] = field(default_factory=list)
    claims: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    # reconciliation (tests/unit/fake_reconciliation.py)
    reconciliation_runs: dict[str, Any] = field(default_factory=dict)
    drifts: dict[tuple[str | None, str], Any] = field(default_factory=dict)
    alert_settings: dict[str, AlertSettings] = field(default_factory=dict)
    alert_states: dict[tuple[str, str, str, datetime, int], AlertState] = field(
        default_factory=dict
    )
    over_cap: set[tuple[str, Metric, str]] = field(default_factory=set)
    outbox: dict[str, OutboxMessage] = field(default_factory=dict)
    webhook_endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)
    webhook_deliveries: dict[str, WebhookDelivery] = field(default_factory=dict)
    webhook_attempts: list[DeliveryAttempt] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # One writer at a time, as the embedded database: taken by a unit of work's first write
    # (or lock) and held until it commits or rolls back.
    writer: threading.RLock = field(default_factory=threading.RLock)

    DATA = (
        "organizations",
        "customers",
        "subscriptions",
        "purchases",
        "checkouts",
        "usage_events",
        "usage_invoices",
        "inbox",
        "audit",
        "history",
        "claims",
        "reconciliation_runs",
        "drifts",
        "alert_settings",
        "alert_states",
        "over_cap",
        "outbox",
        "webhook_endpoints",
        "webhook_deliveries",
        "webhook_attempts",
    )

    def snapshot(self) -> dict[str, Any]:
        # Stored objects are replaced, never changed in place: copying the containers is enough.
        return {name: copy.copy(getattr(self, name)) for name in self.DATA}

    def restore(self, snapshot: dict[str, Any]) -> None:
        for name, value in snapshot.items():
            setattr(self, name, value)


class UniqueViolation(Exception):
    """What the database's unique constraints raise (IntegrityError on SQL)."""


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.store = uow.store

    def _w(self) -> None:
        self.uow.begin_write()


class FakeOrganizations(_Repo):
    def get(self, org_id: str) -> Organization | None:
        return copy.copy(self.store.organizations.get(org_id))

    def add_if_absent(self, organization: Organization) -> bool:
        self._w()
        with self.store.lock:
            if organization.id in self.store.organizations:
                return False
            self.store.organizations[organization.id] = copy.copy(organization)
            return True

    def mark_operator(self, org_id: str) -> None:
        self._w()
        with self.store.lock:
            found = self.store.organizations.get(org_id)
            if found is not None and not found.operator:
                self.store.organizations[org_id] = replace(found, operator=True)


class FakeCustomers(_Repo):
    def for_org(self, org_id: str) -> StripeCustomer | None:
        return copy.copy(self.store.customers.get(org_id))

    def by_stripe_id(self, stripe_customer_id: str) -> StripeCustomer | None:
        found = [
            c for c in self.store.customers.values() if c.stripe_customer_id == stripe_customer_id
        ]
        return copy.copy(found[0]) if found else None

    def add_if_absent(self, customer: StripeCustomer) -> bool:
        self._w()
        with self.store.lock:
            if customer.org_id in self.store.customers:
                return False
            if self.by_stripe_id(customer.stripe_customer_id) is not None:
                raise UniqueViolation("a Stripe customer belongs to one organization")
            self.store.customers[customer.org_id] = copy.copy(customer)
            return True

    def save(self, customer: StripeCustomer) -> None:
        self._w()
        self.store.customers[customer.org_id] = copy.copy(customer)


class FakeSubscriptions(_Repo):
    def get(self, stripe_subscription_id: str) -> Subscription | None:
        return copy.copy(self.store.subscriptions.get(stripe_subscription_id))

    def for_org(self, org_id: str) -> list[Subscription]:
        subs = [copy.copy(s) for s in self.store.subscriptions.values() if s.org_id == org_id]
        return sorted(subs, key=lambda s: s.updated_at, reverse=True)

    def save(self, subscription: Subscription) -> None:
        self._w()
        self.store.subscriptions[subscription.stripe_subscription_id] = copy.copy(subscription)

    def orgs_with_status(self, status: SubscriptionStatus) -> list[str]:
        return sorted({s.org_id for s in self.store.subscriptions.values() if s.status is status})


class FakePurchases(_Repo):
    def for_org(self, org_id: str) -> list[OneTimePurchase]:
        found = [copy.copy(p) for p in self.store.purchases.values() if p.org_id == org_id]
        return sorted(found, key=lambda p: p.created_at, reverse=True)

    def by_checkout_session(self, session_id: str) -> OneTimePurchase | None:
        found = [
            p for p in self.store.purchases.values() if p.stripe_checkout_session_id == session_id
        ]
        return copy.copy(found[0]) if found else None

    def add(self, purchase: OneTimePurchase) -> None:
        self._w()
        self.store.purchases[purchase.id] = copy.copy(purchase)

    def save(self, purchase: OneTimePurchase) -> None:
        self._w()
        self.store.purchases[purchase.id] = copy.copy(purchase)


class FakeCheckouts(_Repo):
    def add(self, record: CheckoutRecord) -> None:
        self._w()
        self.store.checkouts[record.id] = copy.copy(record)

    def save(self, record: CheckoutRecord) -> None:
        self._w()
        self.store.checkouts[record.id] = copy.copy(record)

    def by_stripe_id(self, stripe_checkout_session_id: str) -> CheckoutRecord | None:
        found = [
            r
            for r in self.store.checkouts.values()
            if r.stripe_checkout_session_id == stripe_checkout_session_id
        ]
        return copy.copy(found[0]) if found else None


class FakeUsageEvents(_Repo):
    def add_if_absent(self, events: Sequence[UsageEvent]) -> list[UsageEvent]:
        self._w()
        with self.store.lock:
            known = {e.identity for e in self.store.usage_events}
            known |= {("entry", e.entry_id) for e in self.store.usage_events if e.entry_id}
            stored = []
            for event in sorted(events, key=lambda e: e.lock_order):
                if event.identity in known or ("entry", event.entry_id) in known:
                    continue
                known.add(event.identity)
                if event.entry_id:
                    known.add(("entry", event.entry_id))
                saved = replace(event, id=len(self.store.usage_events) + 1)
                self.store.usage_events.append(saved)
                stored.append(saved)
            return stored

    def stored_entry_ids(self, entry_ids: Sequence[str]) -> set[str]:
        wanted = set(entry_ids)
        return {e.entry_id for e in self.store.usage_events if e.entry_id in wanted}

    def total(
        self, org_id: str, metric: Metric, since: datetime | None, until: datetime | None
    ) -> int:
        return sum(
            e.quantity
            for e in self.store.usage_events
            if e.org_id == org_id
            and e.metric is metric
            and (since is None or e.occurred_at >= since)
            and (until is None or e.occurred_at < until)
        )

    def summary(
        self, org_id: str, since: datetime, until: datetime, group_by: str
    ) -> list[UsageTotal]:
        return _summary(
            [
                e
                for e in self.store.usage_events
                if e.org_id == org_id and since <= e.occurred_at < until
            ],
            group_by,
        )

    def _unbilled(
        self, org_id: str | None, cutoff: datetime, metrics: Sequence[Metric]
    ) -> list[UsageEvent]:
        return [
            e
            for e in self.store.usage_events
            if (org_id is None or e.org_id == org_id)
            and e.invoice_id is None
            and e.occurred_at < cutoff
            and e.metric in metrics
        ]

    def unbilled_totals(
        self, org_id: str, cutoff: datetime, metrics: Sequence[Metric]
    ) -> list[LinkedTotal]:
        return totals_of(self._unbilled(org_id, cutoff, metrics))

    def link_unbilled(
        self, org_id: str, cutoff: datetime, metrics: Sequence[Metric], invoice_id: str
    ) -> int:
        self._w()
        with self.store.lock:
            billed = {e.id for e in self._unbilled(org_id, cutoff, metrics)}
            for i, event in enumerate(self.store.usage_events):
                if event.id in billed:
                    self.store.usage_events[i] = replace(event, invoice_id=invoice_id)
        return len(billed)

    def linked_totals(self, invoice_id: str) -> list[LinkedTotal]:
        return totals_of(e for e in self.store.usage_events if e.invoice_id == invoice_id)

    def orgs_with_unbilled(self, cutoff: datetime, metrics: Sequence[Metric]) -> list[str]:
        return sorted({e.org_id for e in self._unbilled(None, cutoff, metrics)})

    def archived_months(self, start: datetime, end: datetime) -> list[datetime]:
        return []  # the fake keeps every entry

    def billed_by(
        self, invoice_id: str, metric: Metric | None, limit: int, offset: int
    ) -> list[UsageEvent]:
        found = [
            e
            for e in self.store.usage_events
            if e.invoice_id == invoice_id and (metric is None or e.metric is metric)
        ]
        return sorted(found, key=lambda e: (e.occurred_at, e.id or 0))[offset : offset + limit]


def _summary(events: list[UsageEvent], group_by: str) -> list[UsageTotal]:
    totals: dict[tuple[str, Metric], list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        group = {
            "day": e.occurred_at.strftime("%Y-%m-%d"),
            "metric": e.metric.value,
            "conversation": e.conversation_id or "",
        }[group_by]
        totals[(group, e.metric)][0] += e.quantity
        totals[(group, e.metric)][1] += 1
    return [UsageTotal(g, m, q, n) for (g, m), (q, n) in sorted(totals.items())]


class FakeUsageInvoices(_Repo):
    def get(self, org_id: str, invoice_id: str) -> UsageInvoice | None:
        invoice = self.store.usage_invoices.get(invoice_id)
        return copy.deepcopy(invoice) if invoice and invoice.org_id == org_id else None

    def by_stripe_id(self, stripe_invoice_id: str) -> UsageInvoice | None:
        found = [
            i
            for i in self.store.usage_invoices.values()
            if i.stripe_invoice_id == stripe_invoice_id
        ]
        return copy.copy(found[0]) if found else None

    def add(self, invoice: UsageInvoice) -> None:
        self._w()
        self.store.usage_invoices[invoice.id] = copy.deepcopy(invoice)

    def save(self, invoice: UsageInvoice, lines: bool = False) -> None:
        self._w()
        saved = copy.deepcopy(invoice)
        if not lines and invoice.id in self.store.usage_invoices:
            saved.lines = self.store.usage_invoices[invoice.id].lines
        self.store.usage_invoices[invoice.id] = saved

    def recent(self, org_id: str, limit: int, offset: int = 0) -> list[UsageInvoice]:
        mine = [i for i in self.store.usage_invoices.values() if i.org_id == org_id]
        mine.sort(key=lambda i: (i.created_at, i.id), reverse=True)
        return [copy.deepcopy(i) for i in mine[offset : offset + limit]]

    def exists(self, invoice_id: str) -> bool:
        return invoice_id in self.store.usage_invoices

    def unfinalized(self, org_id: str) -> list[UsageInvoice]:
        return [i for i in self.recent(org_id, 10_000) if i.status is InvoiceStatus.DRAFT][::-1]

    def claim(self, invoice_id: str, token: str, now: datetime, until: datetime) -> bool:
        self._w()
        with self.store.lock:
            holder = self.store.claims.get(invoice_id)
            invoice = self.store.usage_invoices.get(invoice_id)
            if invoice is None or invoice.status is not InvoiceStatus.DRAFT:
                return False
            if holder is not None and holder[0] != token and holder[1] > now:
                return False
            self.store.claims[invoice_id] = (token, until)
            return True

    def release(self, invoice_id: str, token: str) -> None:
        self._w()
        with self.store.lock:
            if self.store.claims.get(invoice_id, ("", None))[0] == token:
                del self.store.claims[invoice_id]

    def past_due(self, org_id: str) -> list[UsageInvoice]:
        return [i for i in self.recent(org_id, 10_000) if i.status is InvoiceStatus.PAST_DUE]

    def orgs_with_status(self, status: InvoiceStatus) -> list[str]:
        return sorted({i.org_id for i in self.store.usage_invoices.values() if i.status is status})


class FakeAudit(_Repo):
    def record(self, entry: AuditEntry) -> None:
        self._w()
        self.store.audit.append(entry)

    def for_org(self, org_id: str, limit: int) -> list[AuditEntry]:
        return [e for e in reversed(self.store.audit) if e.org_id == org_id][:limit]

    def last(self, org_id: str, action_prefix: str) -> AuditEntry | None:
        found = [e for e in self.for_org(org_id, 10_000) if e.action.startswith(action_prefix)]
        return found[0] if found else None

    def record_change(self, change: SubscriptionChange) -> None:
        self._w()
        self.store.history.append(change)

    def orgs_with(self, action: str) -> list[str]:
        return sorted({e.org_id for e in self.store.audit if e.action == action})


class FakeInbox(_Repo):
    def add_if_absent(self, event: InboxEvent) -> bool:
        self._w()
        with self.store.lock:
            if event.id in self.store.inbox:
                return False
            self.store.inbox[event.id] = copy.deepcopy(event)
            return True

    def get(self, event_id: str, *, for_update: bool = False) -> InboxEvent | None:
        return copy.deepcopy(self.store.inbox.get(event_id))

    def save(self, event: InboxEvent) -> None:
        self._w()
        self.store.inbox[event.id] = copy.deepcopy(event)

    def stale(
        self, never_tried_before: datetime, retried_before: datetime, limit: int
    ) -> list[str]:
        found = [
            e
            for e in self.store.inbox.values()
            if e.status is InboxStatus.PENDING
            and (
                (e.attempts == 0 and e.received_at < never_tried_before)
                or (
                    e.attempts > 0
                    and e.last_attempt_at is not None
                    and e.last_attempt_at < retried_before
                )
            )
        ]
        return [e.id for e in sorted(found, key=lambda e: e.received_at)[:limit]]

    def search(
        self,
        status: InboxStatus | None,
        type_: str | None,
        received_since: datetime | None,
        limit: int,
        offset: int = 0,
    ) -> list[InboxEvent]:
        found = [
            copy.deepcopy(e)
            for e in self.store.inbox.values()
            if (status is None or e.status is status)
            and (type_ is None or e.type == type_)
            and (received_since is None or e.received_at >= received_since)
        ]
        found.sort(key=lambda e: e.received_at, reverse=True)
        return found[offset : offset + limit]

    def lock_pending_siblings(
        self, event_id: str, types: Any, object_id: str, limit: int
    ) -> list[InboxEvent]:
        found = [
            copy.deepcopy(e)
            for e in self.store.inbox.values()
            if e.status is InboxStatus.PENDING
            and e.type in types
            and e.id != event_id
            and e.payload["data"]["object"].get("id") == object_id
        ]
        return sorted(found, key=lambda e: e.received_at)[:limit]


class FakeAlerts(_Repo):
    def settings(self, org_id: str) -> AlertSettings | None:
        return self.store.alert_settings.get(org_id)

    def save_settings(self, settings: AlertSettings) -> None:
        self._w()
        self.store.alert_settings[settings.org_id] = settings

    def add_state_if_absent(self, state: AlertState) -> bool:
        self._w()
        with self.store.lock:
            key = (state.org_id, *state.key)
            if key in self.store.alert_states:
                return False
            self.store.alert_states[key] = state
            return True

    def resolve(self, state: AlertState, at: datetime) -> bool:
        self._w()
        with self.store.lock:
            key = (state.org_id, *state.key)
            found = self.store.alert_states.get(key)
            if found is None or found.resolved_at is not None:
                return False
            self.store.alert_states[key] = found.resolved(at)
            return True

    def states(self, org_id: str, *, unresolved_only: bool = False) -> list[AlertState]:
        found = [
            s
            for s in self.store.alert_states.values()
            if s.org_id == org_id and not (unresolved_only and s.resolved_at is not None)
        ]
        return sorted(found, key=lambda s: (s.fired_at, s.key), reverse=True)

    def flag_over_cap(self, org_id: str, keys: Sequence[tuple[Metric, str]], at: datetime) -> int:
        self._w()
        with self.store.lock:
            flagged = {(org_id, m, k) for m, k in keys} - self.store.over_cap
            self.store.over_cap = self.store.over_cap | flagged
            return len(flagged)

    def over_cap(self, org_id: str) -> list[tuple[Metric, str]]:
        return sorted((m, k) for o, m, k in self.store.over_cap if o == org_id)


class FakeUnitOfWork:
    """Keeps a database's contract: writes are kept only by `commit()`; a rollback, or leaving
    without a commit, undoes every write since the last commit."""

    def __init__(self, store: FakeStore, after_commit: Any = None) -> None:
        self.store = store
        self.after_commit = after_commit
        self.committed = False
        self.locked: list[str] = []
        self._undo: dict[str, Any] | None = None
        self.organizations = FakeOrganizations(self)
        self.customers = FakeCustomers(self)
        self.subscriptions = FakeSubscriptions(self)
        self.purchases = FakePurchases(self)
        self.checkouts = FakeCheckouts(self)
        self.usage_events = FakeUsageEvents(self)
        self.usage_invoices = FakeUsageInvoices(self)
        self.inbox = FakeInbox(self)
        self.audit = FakeAudit(self)
        self.reconciliation = FakeReconciliation(self)
        self.alerts = FakeAlerts(self)
        self.outbox = FakeOutbox(self)
        self.webhook_endpoints = FakeWebhookEndpoints(self)
        self.webhook_deliveries = FakeWebhookDeliveries(self)

    def __enter__(self) -> FakeUnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def begin_write(self) -> None:
        if self._undo is None:
            self.store.writer.acquire()
            self._undo = self.store.snapshot()

    def commit(self) -> None:
        if self._undo is not None:
            self._undo = None
            self.store.writer.release()
        self.committed = True
        queued, self.webhook_deliveries.added = self.webhook_deliveries.added, []
        if queued and self.after_commit is not None:
            # As the SQL unit of work: a dispatch that fails loses nothing (the sweep sends them).
            with contextlib.suppress(Exception):
                self.after_commit(queued)

    def rollback(self) -> None:
        self.webhook_deliveries.added = []
        if self._undo is not None:
            self.store.restore(self._undo)
            self._undo = None
            self.store.writer.release()

    def lock(self, key: str) -> None:
        self.begin_write()
        self.locked.append(key)

    def lock_shared(self, key: str) -> None:
        self.lock(key)


class FakeUnitOfWorkFactory:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.opened: list[FakeUnitOfWork] = []
        self.after_commit: Any = None  # as the SQL factory's: told each commit's deliveries

    def __call__(self) -> FakeUnitOfWork:
        uow = FakeUnitOfWork(self.store, self.after_commit)
        self.opened.append(uow)
        return uow


class FakeJobQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[str, tuple[str, ...], str | None]] = []

    def enqueue(self, job: str, *args: str, job_id: str | None = None) -> None:
        self.enqueued.append((job, args, job_id))


class FakeProbe:
    def __init__(self, ok: bool = True) -> None:
        self.ok = ok

    def ping(self) -> bool:
        return self.ok


def fake_ports(**extra: Any) -> dict[str, Any]:
    """Overrides for `create_app`/`bootstrap`: every port faked, nothing touches the network."""
    ports: dict[str, Any] = {
        "uow": FakeUnitOfWorkFactory(),
        "clock": FakeClock(),
        "jobs": FakeJobQueue(),
        "quota_counter": FakeQuotaCounter(),
        "probes": {"database": FakeProbe(), "redis": FakeProbe()},
        "resolver": FakeResolver(),
        "webhook_sender": FakeWebhookSender(),
    }
    ports.update(extra)
    return ports


class FakeQuotaCounter:
    """The counter's rules in memory: windows, per-period counters, idempotency, a ledger."""

    def __init__(self) -> None:
        self.windows: dict[str, QuotaWindow] = {}
        # (org, metric) -> (period start, used, period end)
        self.counters: dict[tuple[str, Metric], tuple[datetime, int, datetime]] = {}
        self.answers: dict[tuple[str, Metric, str], int] = {}
        self.pending: list[LedgerEntry] = []
        self.recordings: dict[str, list[tuple[str, str, datetime]]] = {}
        self.answered: dict[str, RecordOutcome] = {}  # a repeated token's answer
        # What fired: (metric or "cap", threshold id, period start), as the Redis marks.
        self.marks: set[tuple[str, str, datetime]] = set()
        self.down = False
        self.forgotten: list[str] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _check(self) -> None:
        if self.down:
            raise QuotaUnavailable("the quota counter is unavailable; retry shortly")

    def _run(
        self, mode: str, org_id: str, metric: Metric, amount: int, now: datetime, key: str | None
    ) -> CounterReply:
        self._check()
        with self._lock:
            window = self.windows.get(org_id)
            if window is None or now >= window.period_end:
                return CounterReply(CounterStatus.NO_WINDOW)
            start, end = window.period_for(metric)
            limit = window.limits.get(metric)
            if key and (org_id, metric, key) in self.answers:
                return CounterReply(
                    CounterStatus.DUPLICATE, self.answers[(org_id, metric, key)], limit, start, end
                )
            counter = self.counters.get((org_id, metric))
            if counter is None or counter[0] != start:
                return CounterReply(CounterStatus.NO_COUNTER, 0, limit, start, end)
            used = counter[1]
            if mode == "release":
                amount = -min(amount, used)
            elif mode == "consume" and limit is not None and used + amount > limit:
                return CounterReply(CounterStatus.REFUSED, used, limit, start, end)
            if mode == "consume" and metric.is_voice and window.cap_words is not None:
                other = Metric.TTS_WORDS if metric is Metric.STT_WORDS else Metric.STT_WORDS
                theirs = self.counters.get((org_id, other))
                if theirs is None or theirs[0] != start:
                    return CounterReply(CounterStatus.NO_COUNTER, 0, limit, start, end)
                spent = used + theirs[1]
                if spent + amount > window.cap_words:
                    if ("cap", "spend_cap", start) not in self.marks:
                        self.marks.add(("cap", "spend_cap", start))
                        self.pending.append(
                            LedgerEntry(
                                f"{next(self._ids)}-0",
                                org_id,
                                metric,
                                0,
                                now,
                                None,
                                start,
                                capped=(spent, window.cap_words),
                                period_end=end,
                            )
                        )
                    return CounterReply(
                        CounterStatus.CAPPED, used, limit, start, end, spent, window.cap_words
                    )
            if mode != "peek" and amount:
                used += amount
                self.counters[(org_id, metric)] = (start, used, counter[2])
                fired = self._fire(window, metric, used, start) if mode == "consume" else ()
                self.pending.append(
                    LedgerEntry(
                        f"{next(self._ids)}-0",
                        org_id,
                        metric,
                        amount,
                        now,
                        key,
                        start,
                        fired,
                        period_end=end if fired else None,
                    )
                )
            if key:
                self.answers[(org_id, metric, key)] = used
            return CounterReply(CounterStatus.OK, used, limit, start, end)

    def consume(
        self, org_id: str, metric: Metric, amount: int, now: datetime, idempotency_key: str | None
    ) -> CounterReply:
        return self._run("consume", org_id, metric, amount, now, idempotency_key)

    def release(self, org_id: str, metric: Metric, amount: int, now: datetime) -> CounterReply:
        return self._run("release", org_id, metric, amount, now, None)

    def peek(self, org_id: str, metric: Metric, now: datetime) -> CounterReply:
        return self._run("peek", org_id, metric, 0, now, None)

    def _fire(
        self, window: QuotaWindow, metric: Metric, used: int, start: datetime
    ) -> tuple[FiredThreshold, ...]:
        fired = []
        for threshold_id, level in window.alerts.get(metric, {}).items():
            mark = (metric.value, threshold_id, start)
            if used >= level and mark not in self.marks:
                self.marks.add(mark)
                limit = window.limits.get(metric)
                fired.append(FiredThreshold(metric, threshold_id, level, used, limit))
        return tuple(fired)

    def _mark(self, window: QuotaWindow, metric: str, threshold_id: str) -> tuple:
        name = "cap" if threshold_id == "spend_cap" else metric
        return (name, threshold_id, window.mark_period(metric))

    def set_window(self, window: QuotaWindow, now: datetime) -> None:
        self._check()
        with self._lock:
            self.windows[window.org_id] = window
            self.marks -= {self._mark(window, m, t) for m, t in window.resolved}
            self.marks |= {self._mark(window, m, t) for m, t in window.fired}

    def forget_window(self, org_id: str) -> None:
        self._check()
        self.forgotten.append(org_id)
        self.windows.pop(org_id, None)

    def seed(
        self, org_id: str, metric: Metric, period_start: datetime, period_end: datetime, used: int
    ) -> None:
        self._check()
        with self._lock:
            start = GAUGE_PERIOD_START if metric.is_gauge else period_start
            end = GAUGE_PERIOD_END if metric.is_gauge else period_end
            current = self.counters.get((org_id, metric))
            if current is None or current[0] != start:
                self.counters[(org_id, metric)] = (start, used, end)

    def record(
        self, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> RecordOutcome:
        self._check()
        with self._lock:
            if token in self.recordings:
                return self.answered.get(token, RecordOutcome())
            self.recordings[token] = []
            window = self.windows.get(org_id)
            voice = {Metric.STT_WORDS, Metric.TTS_WORDS}
            before = self._voice(org_id, window)
            touched = self._add(org_id, usage, 1)
            if window is None:
                return RecordOutcome()
            fired = []
            for metric in sorted(touched):
                start, used, _ = self.counters[(org_id, metric)]
                for f in self._fire(window, metric, used, start):
                    fired.append(f)
                    self.recordings[token].append((metric.value, f.threshold_id, start))
            after = self._voice(org_id, window)
            known = before is not None and any(m in voice for m, _, _ in usage)
            self.answered[token] = RecordOutcome(
                tuple(fired),
                before if known else None,
                after if known else None,
                window.cap_words,
                window.period_start,
                window.period_end,
            )
            return self.answered[token]

    def _voice(self, org_id: str, window: QuotaWindow | None) -> int | None:
        total = 0
        for metric in (Metric.STT_WORDS, Metric.TTS_WORDS):
            counter = self.counters.get((org_id, metric))
            if window is None or counter is None or counter[0] != window.period_start:
                return None
            total += counter[1]
        return total

    def undo_record(
        self, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> None:
        self._check()
        with self._lock:
            if token in self.recordings:
                self.marks -= set(self.recordings.pop(token))
                self.answered.pop(token, None)
                self._add(org_id, usage, -1)

    def _add(
        self, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], sign: int
    ) -> set[Metric]:
        touched = set()
        for metric, at, quantity in usage:
            counter = self.counters.get((org_id, metric))
            if counter is not None and counter[0] <= at < counter[2]:
                touched.add(metric)
                self.counters[(org_id, metric)] = (
                    counter[0],
                    counter[1] + sign * quantity,
                    counter[2],
                )
        return touched

    def pending_ledger(self, limit: int, org_id: str | None = None) -> list[LedgerEntry]:
        self._check()
        return [e for e in self.pending if org_id in (None, e.org_id)][:limit]

    def ack_ledger(
        self, entries: Sequence[LedgerEntry], refunds: Sequence[LedgerEntry] = ()
    ) -> None:
        self._check()
        with self._lock:
            present = {e.entry_id for e in self.pending}
            for entry in refunds:
                counter = self.counters.get((entry.org_id, entry.metric))
                if entry.entry_id in present and counter and counter[0] == entry.period_start:
                    self.counters[(entry.org_id, entry.metric)] = (
                        counter[0],
                        counter[1] - entry.amount,
                        counter[2],
                    )
            done = {e.entry_id for e in entries}
            self.pending = [e for e in self.pending if e.entry_id not in done]

    def lose_counters(self) -> None:
        """What a Redis flush does."""
        self.windows.clear()
        self.counters.clear()
        self.answers.clear()
        self.pending.clear()
        self.marks.clear()
