"""The comparison of usage invoices and one-time purchases (see drift_rules)."""

from __future__ import annotations

from collections.abc import Iterable

from domain.model.invoicing import InvoiceStatus, UsageInvoice, status_from_stripe
from domain.model.payments import InvoiceSnapshot
from domain.model.purchases import PurchaseStatus
from domain.model.reconciliation import Drift, DriftKind, LocalBooks, ObjectType, Repair
from domain.services.drift_books import (
    CHECKOUT_REPAIR,
    INVOICE_REPAIR,
    INVOICE_REPAIRS,
    Drifts,
    StripeBooks,
    valid_org,
)

_UNPAID = (InvoiceStatus.OPEN, InvoiceStatus.PAST_DUE)
_NOT_SENT = (InvoiceStatus.DRAFT, InvoiceStatus.HELD)  # invoicing itself resumes these


def expected_status(stripe_status: str | None, ours: InvoiceStatus) -> InvoiceStatus:
    """What a usage invoice of ours should say, given Stripe's status."""
    return status_from_stripe(stripe_status, ours if ours in _UNPAID else InvoiceStatus.OPEN)


def invoice_drifts(
    books: LocalBooks, stripe: StripeBooks, org_of_customer: dict[str, str], drifts: Drifts
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
        owner = org_of_customer.get(theirs.customer_id or "") or valid_org(
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


def purchase_drifts(books: LocalBooks, stripe: StripeBooks, drifts: Drifts) -> None:
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
