"""The ports the use cases depend on. Adapters implement them; tests use in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from domain.model.alerts import AlertSettings, AlertState
from domain.model.audit import AuditEntry, SubscriptionChange
from domain.model.checkouts import CheckoutRecord
from domain.model.customers import StripeCustomer
from domain.model.invoicing import InvoiceStatus, UsageInvoice
from domain.model.metering import LinkedTotal, UsageEvent, UsageTotal
from domain.model.money import Money
from domain.model.organizations import Organization
from domain.model.outbound import OutboxMessage
from domain.model.payments import (
    CheckoutRequest,
    CheckoutSession,
    CustomerInfo,
    InvoiceSnapshot,
    PriceInfo,
    PriceSpec,
    ProrationBehavior,
    ProrationPreview,
    SubscriptionIntent,
)
from domain.model.plans import Metric
from domain.model.purchases import OneTimePurchase
from domain.model.quotas import CounterReply, LedgerEntry, QuotaWindow, RecordOutcome
from domain.model.reconciliation import Drift, LocalBooks, ReconciliationRun
from domain.model.subscriptions import Subscription, SubscriptionSnapshot, SubscriptionStatus
from domain.model.webhook_endpoints import (
    DeliveryAttempt,
    SendResult,
    WebhookDelivery,
    WebhookEndpoint,
)
from domain.model.webhooks import InboxEvent, InboxStatus


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class OrganizationRepository(Protocol):
    def get(self, org_id: str) -> Organization | None: ...

    def mark_operator(self, org_id: str) -> None:
        """The organization is the operator's own (idempotent)."""
        ...

    def add_if_absent(self, organization: Organization) -> bool:
        """Insert unless the id exists; answer whether this call inserted it."""
        ...


class CustomerRepository(Protocol):
    def for_org(self, org_id: str) -> StripeCustomer | None: ...

    def by_stripe_id(self, stripe_customer_id: str) -> StripeCustomer | None: ...

    def add_if_absent(self, customer: StripeCustomer) -> bool:
        """Insert unless the organization has one; answer whether this call inserted it."""
        ...

    def save(self, customer: StripeCustomer) -> None: ...


class SubscriptionRepository(Protocol):
    def get(self, stripe_subscription_id: str) -> Subscription | None: ...

    def for_org(self, org_id: str) -> list[Subscription]:
        """The organization's subscriptions, most recently updated first."""
        ...

    def save(self, subscription: Subscription) -> None:
        """Insert or update by Stripe subscription id."""
        ...

    def orgs_with_status(self, status: SubscriptionStatus) -> list[str]: ...


class PurchaseRepository(Protocol):
    def for_org(self, org_id: str) -> list[OneTimePurchase]: ...

    def by_checkout_session(self, session_id: str) -> OneTimePurchase | None: ...

    def add(self, purchase: OneTimePurchase) -> None: ...

    def save(self, purchase: OneTimePurchase) -> None: ...


class CheckoutRepository(Protocol):
    def add(self, record: CheckoutRecord) -> None: ...

    def save(self, record: CheckoutRecord) -> None: ...

    def by_stripe_id(self, stripe_checkout_session_id: str) -> CheckoutRecord | None: ...


class UsageEventRepository(Protocol):
    """The usage ledger (see domain.model.metering)."""

    def add_if_absent(self, events: Sequence[UsageEvent]) -> list[UsageEvent]:
        """Store the entries whose identity (organization, metric and idempotency key, or the
        counter's entry id) is new, inserting in `lock_order`; answer the ones stored."""
        ...

    def stored_entry_ids(self, entry_ids: Sequence[str]) -> set[str]:
        """Which of these counter entry ids the ledger holds."""
        ...

    def total(
        self, org_id: str, metric: Metric, since: datetime | None, until: datetime | None
    ) -> int:
        """The sum of the metric's entries in [since, until) (None: unbounded)."""
        ...

    def summary(
        self, org_id: str, since: datetime, until: datetime, group_by: str
    ) -> list[UsageTotal]:
        """Totals in [since, until) grouped by "day", "metric" or "conversation"."""
        ...

    def unbilled_totals(
        self, org_id: str, cutoff: datetime, metrics: Sequence[Metric]
    ) -> list[LinkedTotal]:
        """The organization's still-unbilled entries before `cutoff`, per metric (a preview:
        what `link_unbilled` would take if nothing arrived meanwhile)."""
        ...

    def link_unbilled(
        self, org_id: str, cutoff: datetime, metrics: Sequence[Metric], invoice_id: str
    ) -> int:
        """Bill every still-unbilled entry of those metrics before `cutoff` with the invoice
        in one statement; answer how many were linked."""
        ...

    def linked_totals(self, invoice_id: str) -> list[LinkedTotal]:
        """Per metric, exactly the entries linked to the invoice."""
        ...

    def orgs_with_unbilled(self, cutoff: datetime, metrics: Sequence[Metric]) -> list[str]: ...

    def archived_months(self, start: datetime, end: datetime) -> list[datetime]:
        """The months overlapping [start, end] whose raw entries were archived (their totals
        stay on the invoices that billed them)."""
        ...

    def billed_by(
        self, invoice_id: str, metric: Metric | None, limit: int, offset: int
    ) -> list[UsageEvent]: ...


class UsageInvoiceRepository(Protocol):
    def get(self, org_id: str, invoice_id: str) -> UsageInvoice | None: ...

    def by_stripe_id(self, stripe_invoice_id: str) -> UsageInvoice | None: ...

    def add(self, invoice: UsageInvoice) -> None: ...

    def save(self, invoice: UsageInvoice, lines: bool = False) -> None:
        """Update the invoice; with `lines`, its lines' Stripe item ids too."""
        ...

    def recent(self, org_id: str, limit: int, offset: int = 0) -> list[UsageInvoice]: ...

    def exists(self, invoice_id: str) -> bool:
        """Whether any organization has this invoice (to tell a foreign id from a missing one
        in the security log; the caller answers 404 either way)."""
        ...

    def unfinalized(self, org_id: str) -> list[UsageInvoice]:
        """Drafts whose Stripe invoice is not finalized yet (a run that failed midway)."""
        ...

    def claim(self, invoice_id: str, token: str, now: datetime, until: datetime) -> bool:
        """Take the right to talk to Stripe about this draft until `until`, unless another
        holder's claim is still running; answer whether this call holds it."""
        ...

    def release(self, invoice_id: str, token: str) -> None: ...

    def past_due(self, org_id: str) -> list[UsageInvoice]: ...

    def orgs_with_status(self, status: InvoiceStatus) -> list[str]: ...


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None: ...

    def for_org(self, org_id: str, limit: int) -> list[AuditEntry]: ...

    def last(self, org_id: str, action_prefix: str) -> AuditEntry | None: ...

    def record_change(self, change: SubscriptionChange) -> None:
        """Keep the subscription's new state in its history (for analytics over any period)."""
        ...

    def orgs_with(self, action: str) -> list[str]: ...


class WebhookInbox(Protocol):
    def add_if_absent(self, event: InboxEvent) -> bool:
        """Store the event unless its id is known; answer whether this call stored it."""
        ...

    def get(self, event_id: str, *, for_update: bool = False) -> InboxEvent | None: ...

    def save(self, event: InboxEvent) -> None: ...

    def stale(
        self, never_tried_before: datetime, retried_before: datetime, limit: int
    ) -> list[str]:
        """Pending events never attempted since before the first time, or last attempted before
        the second: the ones a lost job or a dead worker left behind."""
        ...

    def search(
        self,
        status: InboxStatus | None,
        type_: str | None,
        received_since: datetime | None,
        limit: int,
        offset: int = 0,
    ) -> list[InboxEvent]:
        """Newest first, for operators."""
        ...

    def lock_pending_siblings(
        self, event_id: str, types: Sequence[str], object_id: str, limit: int
    ) -> list[InboxEvent]:
        """Other pending events of these types about the same Stripe object, locked for this
        transaction; those another transaction holds are skipped, never waited for."""
        ...


# -- reconciliation ---------------------------------------------------------------------------
class ReconciliationRepository(Protocol):
    """Runs and their drift rows, and the bulk reads a run compares with Stripe."""

    def add_run(self, run: ReconciliationRun) -> None: ...

    def save_run(self, run: ReconciliationRun) -> None: ...

    def get_run(self, run_id: str) -> ReconciliationRun | None: ...

    def latest_run(self, *, finished: bool = False) -> ReconciliationRun | None:
        """The newest run (with `finished`: the newest finished one that was not a dry run)."""
        ...

    def add_drifts(self, drifts: Sequence[Drift]) -> None: ...

    def drifts_of(self, run_id: str, limit: int, offset: int = 0) -> list[Drift]:
        """The run's drift rows in a stable order (organization, object, kind)."""
        ...

    def last_seen(self, keys: Sequence[str]) -> dict[str, Drift]:
        """For each drift key, its row in the newest run that reported it."""
        ...

    def books(self, org_id: str | None) -> LocalBooks:
        """Our customers, subscriptions, usage invoices sent to Stripe (with their lines),
        purchases and checkout sessions: of every organization, or of one."""
        ...

    def newest_event_at(self) -> datetime | None:
        """When Stripe created the newest event the webhook inbox holds."""
        ...

    def known_events(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these event ids the webhook inbox holds."""
        ...

    def other_api_version_events(self, since: datetime, pinned: str) -> int:
        """Events received since then whose API version is not the pinned one."""
        ...


# -- end reconciliation -----------------------------------------------------------------------
class AlertRepository(Protocol):
    """Usage alert settings, the spend cap, and what fired (see domain.model.alerts)."""

    def settings(self, org_id: str) -> AlertSettings | None: ...

    def save_settings(self, settings: AlertSettings) -> None:
        """Insert or replace the organization's settings."""
        ...

    def add_state_if_absent(self, state: AlertState) -> bool:
        """Store a firing unless one with its key (organization, metric, threshold, period,
        level) exists; answer whether this call stored it."""
        ...

    def resolve(self, state: AlertState, at: datetime) -> bool:
        """Mark the firing resolved unless it already is; answer whether this call did."""
        ...

    def states(self, org_id: str, *, unresolved_only: bool = False) -> list[AlertState]:
        """The organization's firings, most recent first."""
        ...

    def flag_over_cap(self, org_id: str, keys: Sequence[tuple[Metric, str]], at: datetime) -> int:
        """Flag these recorded events (metric, idempotency key) as past the spend cap, once;
        answer how many this call flagged."""
        ...

    def over_cap(self, org_id: str) -> list[tuple[Metric, str]]:
        """The recorded events flagged past the cap, by metric and key."""
        ...


class Outbox(Protocol):
    """Messages to the product, written in the transaction of the change they announce."""

    def add_if_absent(self, message: OutboxMessage) -> bool:
        """Store the message unless the organization already has one with its dedupe key (a
        message without a key is always new); answer whether this call stored it."""
        ...

    def get(self, message_id: str) -> OutboxMessage | None: ...

    def mark_fanned_out(self, message_id: str, now: datetime) -> bool:
        """Mark the message handed to its endpoints unless it already is; answer whether this
        call marked it (the one that fans it out)."""
        ...

    def unsent(self, created_before: datetime, limit: int) -> list[str]:
        """Messages committed before the time and never fanned out (a lost job), oldest first."""
        ...

    def since(self, org_id: str, since: datetime, limit: int) -> list[OutboxMessage]:
        """The organization's messages created at or after `since`, oldest first."""
        ...


class WebhookEndpointRepository(Protocol):
    def add(self, endpoint: WebhookEndpoint) -> None: ...

    def get(self, org_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """The organization's endpoint (another organization's id answers None)."""
        ...

    def by_id(self, endpoint_id: str) -> WebhookEndpoint | None: ...

    def for_org(self, org_id: str) -> list[WebhookEndpoint]:
        """Oldest first."""
        ...

    def save(self, endpoint: WebhookEndpoint) -> None: ...

    def delete(self, org_id: str, endpoint_id: str) -> bool:
        """Remove the endpoint with its deliveries and their attempts; answer whether it was
        there."""
        ...


class WebhookDeliveryRepository(Protocol):
    def add_if_absent(self, deliveries: Sequence[WebhookDelivery]) -> list[str]:
        """Store the deliveries whose (message, endpoint) is new; answer the ids stored."""
        ...

    def get(self, delivery_id: str) -> WebhookDelivery | None: ...

    def of_message(self, message_id: str, endpoint_id: str) -> WebhookDelivery | None: ...

    def claim(
        self, delivery_id: str, token: str, now: datetime, until: datetime
    ) -> WebhookDelivery | None:
        """Take the delivery's next attempt until `until`, counted now, if it is pending, due
        and no other holder's lease runs; answer it as claimed, or None."""
        ...

    def save(self, delivery: WebhookDelivery) -> None: ...

    def due(self, now: datetime, limit: int) -> list[str]:
        """Pending deliveries due by `now` and not leased (or whose lease ran out: a worker
        that stopped mid-call), soonest first."""
        ...

    def fail_pending(self, endpoint_id: str, now: datetime, reason: str) -> int:
        """Mark the endpoint's pending deliveries failed (it was disabled); answer how many."""
        ...

    def for_endpoint(
        self, org_id: str, endpoint_id: str, limit: int, offset: int = 0
    ) -> list[WebhookDelivery]:
        """Newest first."""
        ...

    def start_attempt(self, attempt: DeliveryAttempt) -> None: ...

    def finish_attempt(self, attempt: DeliveryAttempt) -> None:
        """Set the outcome of the attempt with this delivery id and number."""
        ...

    def attempts(self, delivery_ids: Sequence[str]) -> list[DeliveryAttempt]:
        """Every attempt of these deliveries, by delivery then number."""
        ...


class UnitOfWork(Protocol):
    """One database transaction; nothing is kept unless `commit()` is called."""

    # Read-only: an adapter's own repository classes satisfy them (a plain attribute would
    # have to be declared with exactly the port's type).
    @property
    def organizations(self) -> OrganizationRepository: ...

    @property
    def customers(self) -> CustomerRepository: ...

    @property
    def subscriptions(self) -> SubscriptionRepository: ...

    @property
    def purchases(self) -> PurchaseRepository: ...

    @property
    def checkouts(self) -> CheckoutRepository: ...

    @property
    def usage_events(self) -> UsageEventRepository: ...

    @property
    def usage_invoices(self) -> UsageInvoiceRepository: ...

    @property
    def inbox(self) -> WebhookInbox: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def reconciliation(self) -> ReconciliationRepository: ...

    @property
    def alerts(self) -> AlertRepository: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def webhook_endpoints(self) -> WebhookEndpointRepository: ...

    @property
    def webhook_deliveries(self) -> WebhookDeliveryRepository: ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def lock(self, key: str) -> None:
        """Serialize, until this transaction ends, every unit of work locking the same key
        (exclusively or shared). Raises StorageConflict when the database aborts a race."""
        ...

    def lock_shared(self, key: str) -> None:
        """Take the key's lock shared: any number of shared holders at once, none while an
        exclusive holder runs. (The embedded database has one writer lock: it serializes.)"""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class WebhookIntakeStore(Protocol):
    """The webhook intake's one write, outside any unit of work."""

    def add_if_absent(self, event: InboxEvent, payload: bytes) -> bool:
        """Store the event, its payload the raw body as received, unless its id is stored;
        answer whether this call stored it. Atomic: of concurrent calls with one id, one
        stores it and the others answer False."""
        ...


class JobQueue(Protocol):
    def enqueue(self, job: str, *args: str, job_id: str | None = None) -> None:
        """Queue the named job with id arguments only; `job_id` makes a repeat a no-op."""
        ...


class QuotaCounter(Protocol):
    """Atomic check-and-consume in one round trip; raises QuotaUnavailable when unreachable."""

    def consume(
        self, org_id: str, metric: Metric, amount: int, now: datetime, idempotency_key: str | None
    ) -> CounterReply: ...

    def release(self, org_id: str, metric: Metric, amount: int, now: datetime) -> CounterReply: ...

    def peek(self, org_id: str, metric: Metric, now: datetime) -> CounterReply: ...

    def set_window(self, window: QuotaWindow, now: datetime) -> None: ...

    def forget_window(self, org_id: str) -> None:
        """The organization's plan or period changed: the next call reloads its window."""
        ...

    def seed(
        self, org_id: str, metric: Metric, period_start: datetime, period_end: datetime, used: int
    ) -> None:
        """Set the counter from the ledger unless a counter for that period already exists."""
        ...

    def record(
        self, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> RecordOutcome:
        """Count usage that already happened (metric, occurred_at, quantity) into the
        organization's counters whose period holds it; never refuses. A counter that is
        missing is left missing: it is rebuilt from the ledger, which holds this usage. The
        same token counts once, so a call whose reply was lost may be repeated (answering
        nothing fired). Answers the thresholds it marked fired and the period's voice words
        against the spend cap."""
        ...

    def undo_record(
        self, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> None:
        """Take back what `record` counted under this token (nothing if it counted nothing),
        and unmark the thresholds it fired."""
        ...

    def pending_ledger(self, limit: int, org_id: str | None = None) -> list[LedgerEntry]:
        """Up to `limit` entries not yet flushed: every organization's, or one's."""
        ...

    def ack_ledger(
        self, entries: Sequence[LedgerEntry], refunds: Sequence[LedgerEntry] = ()
    ) -> None:
        """Drop flushed entries (as `pending_ledger` answered them). `refunds` are entries the
        ledger refused as duplicates of a key it already held: their amount leaves the counter
        of their period, once, by whichever flush drops the entry."""
        ...


class WebhookSender(Protocol):
    """Posts one signed message (Standard Webhooks) to an endpoint, with short timeouts."""

    def send(
        self, url: str, message_id: str, body: str, secrets: Sequence[str], now: datetime
    ) -> SendResult:
        """Never raises for the receiver's failure: a refused connection, a timeout or any
        status is the result."""
        ...


class AddressResolver(Protocol):
    def resolve(self, host: str) -> list[str]:
        """The host's addresses now; raises OSError when it does not resolve."""
        ...


class HealthProbe(Protocol):
    def ping(self) -> bool: ...


class PaymentGateway(Protocol):
    """The payment provider (Stripe). Every write carries an idempotency key derived from our
    own ids; failures raise the PaymentProvider* domain errors."""

    def create_customer(
        self, org_id: str, email: str | None, name: str | None, *, idempotency_key: str
    ) -> str:
        """Create the organization's customer; answer its provider id."""
        ...

    def update_customer(
        self, customer_id: str, email: str | None, name: str | None, *, idempotency_key: str
    ) -> None: ...

    def create_subscription(
        self, customer_id: str, price_id: str, metadata: dict[str, str], *, idempotency_key: str
    ) -> SubscriptionIntent: ...

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionSnapshot: ...

    def change_subscription_price(
        self,
        subscription_id: str,
        price_id: str,
        proration: ProrationBehavior,
        *,
        idempotency_key: str,
        proration_date: int | None = None,
    ) -> SubscriptionSnapshot: ...

    def preview_subscription_change(
        self,
        subscription_id: str,
        price_id: str,
        proration: ProrationBehavior,
        proration_date: int,
    ) -> ProrationPreview:
        """What changing the price would invoice (`POST /v1/invoices/create_preview`); writes
        nothing."""
        ...

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool, *, idempotency_key: str
    ) -> SubscriptionSnapshot: ...

    def cancel_subscription_now(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionSnapshot: ...

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str
    ) -> CheckoutSession: ...

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession: ...

    def retrieve_invoice(self, invoice_id: str) -> InvoiceSnapshot: ...

    def create_portal_session(
        self, customer_id: str, return_url: str, *, idempotency_key: str
    ) -> str:
        """Answer the customer portal URL."""
        ...

    def find_prices(self, lookup_keys: Sequence[str]) -> list[PriceInfo]: ...

    def ensure_product(self, product_id: str, name: str, *, idempotency_key: str) -> bool:
        """Create the product unless it exists; answer whether this call created it."""
        ...

    def create_price(self, spec: PriceSpec, *, idempotency_key: str) -> PriceInfo: ...

    def create_invoice(
        self, customer_id: str, currency: str, metadata: dict[str, str], *, idempotency_key: str
    ) -> InvoiceSnapshot:
        """A draft invoice that takes no pending invoice items and does not advance on its own."""
        ...

    def add_invoice_item(
        self,
        customer_id: str,
        invoice_id: str,
        amount: Money,
        description: str,
        metadata: dict[str, str],
        *,
        idempotency_key: str,
    ) -> str: ...

    def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceSnapshot:
        """Finalize and let Stripe collect it automatically."""
        ...

    # Lists, for reconciliation: Stripe's list endpoints followed page by page (`starting_after`),
    # one call per page of up to `page_size` (at most 100) objects.
    def list_customers(self, *, page_size: int = 100) -> Iterator[CustomerInfo]: ...

    def list_subscriptions(
        self, *, customer_id: str | None = None, page_size: int = 100
    ) -> Iterator[SubscriptionSnapshot]:
        """Every subscription, canceled ones included."""
        ...

    def list_invoices(
        self,
        *,
        created_since: datetime | None = None,
        customer_id: str | None = None,
        page_size: int = 100,
    ) -> Iterator[InvoiceSnapshot]: ...

    def list_completed_checkout_sessions(
        self, *, created_since: datetime, customer_id: str | None = None, page_size: int = 100
    ) -> Iterator[CheckoutSession]: ...

    def list_events(
        self, *, created_since: datetime, types: Sequence[str], page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Events of these types created since then, newest first, as Stripe delivers them."""
        ...
