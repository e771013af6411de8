"""Reconciliation: our books against Stripe's, one drift row per difference.

A drift is identified by the object it is about and its kind (`key`), so a run recognises a
difference an earlier run already reported and keeps when it was first seen. Differences in what
Stripe owns (a status, a period, a cancel flag, a missed checkout) are repaired through the
webhook handlers; differences in money or ownership are only reported, for a person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.model.checkouts import CheckoutRecord
from domain.model.customers import StripeCustomer
from domain.model.invoicing import UsageInvoice
from domain.model.purchases import OneTimePurchase
from domain.model.subscriptions import Subscription


class DriftKind(StrEnum):
    STATUS_DIFFERS = "status_differs"
    PLAN_DIFFERS = "plan_differs"  # the price, hence the plan
    PERIOD_DIFFERS = "period_differs"
    CANCEL_DIFFERS = "cancel_differs"  # cancel_at_period_end
    HOSTED_URL_DIFFERS = "hosted_url_differs"
    MISSING_LOCALLY = "missing_locally"
    MISSING_AT_STRIPE = "missing_at_stripe"
    AMOUNT_DIFFERS = "amount_differs"  # an invoice's total or its items (our lines)
    DUPLICATE_LIVE_SUBSCRIPTIONS = "duplicate_live_subscriptions"
    CUSTOMER_WITHOUT_ORGANIZATION = "customer_without_organization"


# What Stripe owns and a run may take from it; everything else is money or ownership.
STRIPE_OWNED = frozenset(
    {
        DriftKind.STATUS_DIFFERS,
        DriftKind.PLAN_DIFFERS,
        DriftKind.PERIOD_DIFFERS,
        DriftKind.CANCEL_DIFFERS,
        DriftKind.HOSTED_URL_DIFFERS,
    }
)


class ObjectType(StrEnum):
    CUSTOMER = "customer"
    SUBSCRIPTION = "subscription"
    INVOICE = "invoice"
    PURCHASE = "purchase"
    CHECKOUT_SESSION = "checkout_session"
    ORGANIZATION = "organization"


class DriftAction(StrEnum):
    REPORTED = "reported"  # left for a person
    REPAIRED = "repaired"  # applied through the webhook handler of its object
    WOULD_REPAIR = "would_repair"  # safe to repair, but the run was not asked to
    REPAIR_FAILED = "repair_failed"  # safe, tried, and the handler refused: see `note`


@dataclass(frozen=True)
class Repair:
    """How a safe drift is repaired: the webhook event type whose handler applies it, and the
    Stripe object that handler is given."""

    event_type: str
    object_id: str


@dataclass
class Drift:
    org_id: str | None
    object_type: ObjectType
    object_id: str
    kind: DriftKind
    ours: str | None
    theirs: str | None
    repair: Repair | None = None  # None: money or ownership, reported only
    action: DriftAction = DriftAction.REPORTED
    first_seen_at: datetime | None = None
    run_id: str | None = None
    note: str | None = None
    new: bool = True  # not reported (unrepaired) by an earlier run

    @property
    def key(self) -> str:
        return f"{self.object_type.value}:{self.object_id}:{self.kind.value}"

    @property
    def safe(self) -> bool:
        return self.repair is not None

    def seen_before(self, earlier: Drift | None, now: datetime) -> None:
        """Keep the first sighting of a drift still open since an earlier run."""
        if earlier is not None and earlier.action is not DriftAction.REPAIRED:
            self.first_seen_at = earlier.first_seen_at or now
            self.new = False
        else:
            self.first_seen_at = now
            self.new = True


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass
class RunCounts:
    objects_compared: int = 0
    drifts: int = 0
    new_drifts: int = 0
    repaired: int = 0
    reported: int = 0
    events_listed: int = 0
    events_recovered: int = 0
    other_api_version_events: int = 0


@dataclass
class ReconciliationRun:
    id: str
    created_at: datetime
    status: RunStatus = RunStatus.QUEUED
    org_id: str | None = None  # None: every organization
    fix: bool = False
    dry_run: bool = False
    actor: str = "system"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    events_since: datetime | None = None  # where this run's look at Stripe's events began
    events_until: datetime | None = None  # ... and where it ended (the next run starts there)
    error: str | None = None
    counts: RunCounts = field(default_factory=RunCounts)

    @property
    def audit_actor(self) -> str:
        return f"reconcile:{self.id}"

    def plain(self) -> dict[str, Any]:
        """The run as plain values (a dry run is never kept, so that flag is not among them):
        what the repository stores and the API shows."""
        return {
            "id": self.id,
            "status": self.status.value,
            "org_id": self.org_id,
            "fix": self.fix,
            "actor": self.actor,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "events_since": self.events_since,
            "events_until": self.events_until,
            "error": self.error,
            "counts": asdict(self.counts),
        }

    def start(self, now: datetime) -> None:
        self.status = RunStatus.RUNNING
        self.started_at = now

    def finish(self, now: datetime) -> None:
        self.status = RunStatus.FINISHED
        self.finished_at = now

    def fail(self, error: str, now: datetime) -> None:
        self.status = RunStatus.FAILED
        self.error = error[-2000:]
        self.finished_at = now


@dataclass
class LocalBooks:
    """What we hold, read in bulk for one run (every organization, or one)."""

    customers: list[StripeCustomer] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    invoices: list[UsageInvoice] = field(default_factory=list)
    purchases: list[OneTimePurchase] = field(default_factory=list)
    checkouts: list[CheckoutRecord] = field(default_factory=list)
