"""The comparison itself: our books against what Stripe's lists answered, one drift per
difference. Pure: no I/O, so every rule is tested on plain values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from domain.model.invoicing import InvoiceStatus, UsageInvoice, status_from_stripe
from domain.model.organizations import validate_org_id
from domain.model.payments import CheckoutMode, CheckoutSession, CustomerInfo, InvoiceSnapshot
from domain.model.prices import PriceBook
from domain.model.purchases import PurchaseStatus
from domain.model.reconciliation import (
    Drift,
    DriftKind,
    LocalBooks,
    ObjectType,
    Repair,
)
from domain.model.subscriptions import Subscription, SubscriptionSnapshot, SubscriptionStatus

SUBSCRIPTION_REPAIR = "customer.subscription.updated"
CHECKOUT_REPAIR = "checkout.session.completed"
INVOICE_REPAIRS = {"paid": "invoice.paid", "void": "invoice.voided"}
INVOICE_REPAIR = "invoice.updated"  # the handler that follows any other change

# Two of these at once is a double charge (an incomplete one is a payment not yet made).
CHARGING = frozenset(
    {
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.UNPAID,
        SubscriptionStatus.PAUSED,
    }
)
_UNPAID = (InvoiceStatus.OPEN, InvoiceStatus.PAST_DUE)
_NOT_SENT = (InvoiceStatus.DRAFT, InvoiceStatus.HELD)  # invoicing itself resumes these


@dataclass
class StripeBooks:
    """What Stripe's lists answered for one run."""

    customers: list[CustomerInfo] | None  # None: not listed (a run for one organization)
    subscriptions: list[SubscriptionSnapshot] = field(default_factory=list)
    invoices: list[InvoiceSnapshot] = field(default_factory=list)
    sessions: list[CheckoutSession] = field(default_factory=list)
    invoices_since: datetime | None = None  # invoices created before were not listed

    @property
    def objects(self) -> int:
        return (
            len(self.customers or ())
            + len(self.subscriptions)
            + len(self.invoices)
            + len(self.sessions)
        )


class _Drifts:
    def __init__(self) -> None:
        self.found: dict[str, Drift] = {}

    def add(self, drift: Drift) -> None:
        self.found.setdefault(drift.key, drift)


def _valid(org_id: str | None) -> str | None:
    try:
        return validate_org_id(org_id) if org_id else None
    except Exception:  # noqa: BLE001 - a foreign value in Stripe's metadata is no organization
        return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def compare(books: LocalBooks, stripe: StripeBooks, prices: PriceBook) -> list[Drift]:
    drifts = _Drifts()
    org_of_customer = {c.stripe_customer_id: c.org_id for c in books.customers}
    _customers(books, stripe, drifts)
    _subscriptions(books, stripe, prices, org_of_customer, drifts)
    _invoices(books, stripe, org_of_customer, drifts)
    _purchases(books, stripe, drifts)
    return sorted(
        drifts.found.values(), key=lambda d: (d.org_id or "", d.object_type, d.object_id, d.kind)
    )


def _customers(books: LocalBooks, stripe: StripeBooks, drifts: _Drifts) -> None:
    if stripe.customers is None:
        return
    at_stripe = {c.id for c in stripe.customers}
    ours = {c.stripe_customer_id for c in books.customers}
    for local in books.customers:
        if local.stripe_customer_id not in at_stripe:
            drifts.add(
                Drift(
                    local.org_id,
                    ObjectType.CUSTOMER,
                    local.stripe_customer_id,
                    DriftKind.MISSING_AT_STRIPE,
                    local.org_id,
                    None,
                )
            )
    for customer in stripe.customers:
        if customer.id not in ours:
            drifts.add(_orphan(customer.id, customer.org_id))


def _orphan(customer_id: str, metadata_org: str | None) -> Drift:
    return Drift(
        _valid(metadata_org),
        ObjectType.CUSTOMER,
        customer_id,
        DriftKind.CUSTOMER_WITHOUT_ORGANIZATION,
        None,
        f"metadata.org_id={metadata_org}" if metadata_org else "no org_id",
    )


def _owner(
    snap: SubscriptionSnapshot, local: Subscription | None, org_of_customer: dict[str, str]
) -> str | None:
    if local is not None:
        return local.org_id
    return org_of_customer.get(snap.stripe_customer_id) or _valid(snap.org_id)


def _subscriptions(
    books: LocalBooks,
    stripe: StripeBooks,
    prices: PriceBook,
    org_of_customer: dict[str, str],
    drifts: _Drifts,
) -> None:
    local = {s.stripe_subscription_id: s for s in books.subscriptions}
    listed = {s.stripe_subscription_id for s in stripe.subscriptions}
    completed_by_sub = {
        s.subscription_id: s.id
        for s in stripe.sessions
        if s.subscription_id and s.mode == CheckoutMode.SUBSCRIPTION.value
    }
    charging: dict[str, list[str]] = {}
    for snap in stripe.subscriptions:
        owner = _owner(snap, local.get(snap.stripe_subscription_id), org_of_customer)
        if owner is not None and snap.status in CHARGING:
            charging.setdefault(owner, []).append(snap.stripe_subscription_id)
    duplicated = {org: ids for org, ids in charging.items() if len(ids) > 1}
    for org_id, ids in duplicated.items():
        ours = sorted(s.stripe_subscription_id for s in books.subscriptions if s.org_id == org_id)
        drifts.add(
            Drift(
                org_id,
                ObjectType.ORGANIZATION,
                org_id,
                DriftKind.DUPLICATE_LIVE_SUBSCRIPTIONS,
                ",".join(ours) or None,
                ",".join(sorted(ids)),
            )
        )
    in_duplicates = {sid for ids in duplicated.values() for sid in ids}
    for snap in stripe.subscriptions:
        sid = snap.stripe_subscription_id
        mine = local.get(sid)
        if mine is None:
            if sid in in_duplicates:
                continue  # reported with the organization's other live subscription
            owner = _owner(snap, None, org_of_customer)
            if owner is None:
                drifts.add(_orphan(snap.stripe_customer_id, snap.org_id))
                continue
            session = completed_by_sub.get(sid)
            repair = (
                Repair(CHECKOUT_REPAIR, session) if session else Repair(SUBSCRIPTION_REPAIR, sid)
            )
            drifts.add(
                Drift(
                    owner,
                    ObjectType.SUBSCRIPTION,
                    sid,
                    DriftKind.MISSING_LOCALLY,
                    None,
                    snap.status.value,
                    repair,
                )
            )
            continue
        for drift in _subscription_fields(mine, snap, prices):
            drifts.add(drift)
    for mine in books.subscriptions:
        if mine.stripe_subscription_id not in listed:
            drifts.add(
                Drift(
                    mine.org_id,
                    ObjectType.SUBSCRIPTION,
                    mine.stripe_subscription_id,
                    DriftKind.MISSING_AT_STRIPE,
                    mine.status.value,
                    None,
                )
            )


def _subscription_fields(
    mine: Subscription, snap: SubscriptionSnapshot, prices: PriceBook
) -> Iterable[Drift]:
    repair = Repair(SUBSCRIPTION_REPAIR, mine.stripe_subscription_id)
    tier = prices.tier_for(snap.stripe_price_id, snap.price_lookup_key, snap.plan_tier_hint)
    checks: Sequence[tuple[DriftKind, object, object]] = (
        (DriftKind.STATUS_DIFFERS, mine.status.value, snap.status.value),
        (
            DriftKind.PLAN_DIFFERS,
            f"{mine.tier.value if mine.tier else None} {mine.stripe_price_id}",
            f"{tier.value if tier else (mine.tier.value if mine.tier else None)} "
            f"{snap.stripe_price_id or mine.stripe_price_id}",
        ),
        (
            DriftKind.PERIOD_DIFFERS,
            f"{_text(mine.current_period_start)}/{_text(mine.current_period_end)}",
            f"{_text(snap.current_period_start)}/{_text(snap.current_period_end)}",
        ),
        (DriftKind.CANCEL_DIFFERS, mine.cancel_at_period_end, snap.cancel_at_period_end),
    )
    for kind, ours, theirs in checks:
        if ours != theirs:
            yield Drift(
                mine.org_id,
                ObjectType.SUBSCRIPTION,
                mine.stripe_subscription_id,
                kind,
                _text(ours),
                _text(theirs),
                repair,
            )


def expected_status(stripe_status: str | None, ours: InvoiceStatus) -> InvoiceStatus:
    """What a usage invoice of ours should say, given Stripe's status."""
    return status_from_stripe(stripe_status, ours if ours in _UNPAID else InvoiceStatus.OPEN)


def _invoices(
    books: LocalBooks, stripe: StripeBooks, org_of_customer: dict[str, str], drifts: _Drifts
) -> None:
    at_stripe = {i.id: i for i in stripe.invoices}
    linked = {i.stripe_invoice_id for i in books.invoices if i.stripe_invoice_id}
    ours_by_id = {i.id for i in books.invoices}
    for mine in books.invoices:
        if mine.stripe_invoice_id is None or mine.status in _NOT_SENT:
            continue
        theirs = at_stripe.get(mine.stripe_invoice_id)
        if theirs is None:
            listed = stripe.invoices_since is None or mine.created_at >= stripe.invoices_since
            if listed:
                drifts.add(
                    Drift(
                        mine.org_id,
                        ObjectType.INVOICE,
                        mine.stripe_invoice_id,
                        DriftKind.MISSING_AT_STRIPE,
                        mine.status.value,
                        None,
                    )
                )
            continue
        for drift in _invoice_fields(mine, theirs):
            drifts.add(drift)
    for theirs in stripe.invoices:
        if theirs.id in linked or theirs.parent_type == "subscription_details":
            continue  # ours, or billed by a subscription (Stripe's own)
        if theirs.status == "draft" and theirs.usage_invoice_id in ours_by_id:
            continue  # an invoicing run between its Stripe call and its commit
        owner = org_of_customer.get(theirs.customer_id or "") or _valid(
            theirs.metadata.get("org_id")
        )
        amount = theirs.total or theirs.amount_due
        drifts.add(
            Drift(
                owner,
                ObjectType.INVOICE,
                theirs.id,
                DriftKind.MISSING_LOCALLY,
                None,
                f"{theirs.status} {amount.amount_minor} {amount.currency}",
            )
        )


def _invoice_fields(mine: UsageInvoice, theirs: InvoiceSnapshot) -> Iterable[Drift]:
    sid = mine.stripe_invoice_id or theirs.id

    def drift(kind: DriftKind, ours: str | None, stripes: str | None, fix: bool) -> Drift:
        repair = (
            Repair(INVOICE_REPAIRS.get(theirs.status or "", INVOICE_REPAIR), sid) if fix else None
        )
        return Drift(mine.org_id, ObjectType.INVOICE, sid, kind, ours, stripes, repair)

    expected = expected_status(theirs.status, mine.status)
    if expected is not mine.status:
        # Paid or voided at Stripe is Stripe's to say; anything else (ours paid, Stripe's open)
        # is money, for a person.
        safe = theirs.status in INVOICE_REPAIRS
        yield drift(DriftKind.STATUS_DIFFERS, mine.status.value, theirs.status, safe)
    if theirs.hosted_invoice_url and theirs.hosted_invoice_url != mine.hosted_invoice_url:
        yield drift(
            DriftKind.HOSTED_URL_DIFFERS, mine.hosted_invoice_url, theirs.hosted_invoice_url, True
        )
    total = theirs.total or theirs.amount_due
    ours = f"{mine.total.amount_minor} {mine.total.currency} in {len(mine.lines)} lines"
    stripes = f"{total.amount_minor} {total.currency}" + (
        f" in {theirs.line_count} lines" if theirs.line_count is not None else ""
    )
    lines_differ = theirs.line_count is not None and (
        theirs.line_count != len(mine.lines) or theirs.lines_total != mine.total
    )
    if total != mine.total or lines_differ:
        yield drift(DriftKind.AMOUNT_DIFFERS, ours, stripes, False)


def _purchases(books: LocalBooks, stripe: StripeBooks, drifts: _Drifts) -> None:
    completed = {s.id: s for s in stripe.sessions}
    subscriptions = {s.stripe_subscription_id for s in books.subscriptions}
    with_purchase = set()
    for purchase in books.purchases:
        session = completed.get(purchase.stripe_checkout_session_id or "")
        if session is None:
            continue
        with_purchase.add(session.id)
        if purchase.status is PurchaseStatus.PENDING and session.paid:
            drifts.add(
                Drift(
                    purchase.org_id,
                    ObjectType.PURCHASE,
                    purchase.id,
                    DriftKind.STATUS_DIFFERS,
                    purchase.status.value,
                    PurchaseStatus.PAID.value,
                    Repair(CHECKOUT_REPAIR, session.id),
                )
            )
    for record in books.checkouts:
        session = completed.get(record.stripe_checkout_session_id or "")
        if session is None or record.status.value == "complete" or session.id in with_purchase:
            continue
        if session.subscription_id and session.subscription_id not in subscriptions:
            continue  # reported as the subscription missing here, repaired by this session
        drifts.add(
            Drift(
                record.org_id,
                ObjectType.CHECKOUT_SESSION,
                session.id,
                DriftKind.STATUS_DIFFERS,
                record.status.value,
                session.status,
                Repair(CHECKOUT_REPAIR, session.id),
            )
        )
