"""Usage invoicing: every billable usage entry billed exactly once.

Phase 1, one transaction under the organization's invoicing lock: a new draft is inserted, every
still-unbilled entry of the billed metrics before the cutoff is linked to it in one statement,
and the draft is priced from exactly the entries linked (read back by invoice id), so usage
arriving meanwhile can neither fail nor change it. Too small a total rolls the whole
transaction back (carried forward); too large a one is held for an operator.
Phase 2 talks to Stripe under a claim on the draft, so one process at a time does: create the
Stripe invoice, its items, finalize, each with an idempotency key derived from our invoice id
and each step recorded, so a retry after a failure resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import CustomerRequired, PaymentsNotConfigured
from domain.model.audit import AuditEntry
from domain.model.charge_limits import maximum_charge, minimum_charge
from domain.model.ids import new_id
from domain.model.invoicing import (
    BILLED_METRICS,
    InvoiceLine,
    InvoiceStatus,
    UsageInvoice,
    UsagePrice,
    price_totals,
)
from domain.ports import Clock, PaymentGateway, UnitOfWork, UnitOfWorkFactory
from domain.services import announcements
from domain.services.audit import record_billing_change
from domain.services.retry import retrying

# How long a claim lets one process finish an invoice at Stripe before another may resume it.
CLAIM_TTL = timedelta(minutes=10)
AMOUNT_TOO_LARGE = "amount_too_large"


class Outcome(StrEnum):
    INVOICED = "invoiced"
    NOTHING_TO_BILL = "nothing_to_bill"
    BELOW_MINIMUM = "below_minimum"  # carried forward to the next invoice
    NO_CUSTOMER = "no_customer"  # usage stays unbilled until the organization has a customer
    HELD = "held"  # over Stripe's maximum amount: kept for an operator, never sent


@dataclass(frozen=True)
class InvoicingDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    gateway: PaymentGateway | None
    price: UsagePrice


@dataclass(frozen=True)
class InvoicingResult:
    outcome: Outcome
    invoice: UsageInvoice | None = None
    lines: tuple[InvoiceLine, ...] = ()
    claimed: tuple[UsageInvoice, ...] = ()  # drafts this call holds the claim of
    customer_id: str | None = None
    token: str = ""


def preview_usage_invoice(deps: InvoicingDeps, org_id: str, cutoff: datetime) -> InvoicingResult:
    """What the next usage invoice would bill, creating nothing."""
    with deps.uow() as uow:
        totals = uow.usage_events.unbilled_totals(org_id, cutoff, BILLED_METRICS)
        has_customer = uow.customers.for_org(org_id) is not None
    lines = price_totals(totals, deps.price)
    return InvoicingResult(_outcome(lines, has_customer, deps.price), None, tuple(lines))


def _outcome(lines: list[InvoiceLine], has_customer: bool, price: UsagePrice) -> Outcome:
    if not lines:
        return Outcome.NOTHING_TO_BILL
    if not has_customer:
        return Outcome.NO_CUSTOMER
    total = sum(line.amount.amount_minor for line in lines)
    if total < minimum_charge(price.currency).amount_minor:
        return Outcome.BELOW_MINIMUM
    if total > maximum_charge(price.currency).amount_minor:
        return Outcome.HELD
    return Outcome.INVOICED


def _claim_unfinished(
    uow: UnitOfWork, org_id: str, token: str, now: datetime
) -> tuple[list[UsageInvoice], list[UsageInvoice]]:
    """Drafts an earlier run left unfinalized: the ones this call may finish, and the ones
    another process is finishing right now."""
    mine: list[UsageInvoice] = []
    theirs: list[UsageInvoice] = []
    for draft in uow.usage_invoices.unfinalized(org_id):
        claimed = uow.usage_invoices.claim(draft.id, token, now, now + CLAIM_TTL)
        (mine if claimed else theirs).append(draft)
    return mine, theirs


def assign_unbilled_usage(
    deps: InvoicingDeps, org_id: str, cutoff: datetime, actor: str
) -> InvoicingResult:
    """Phase 1: the local invoice and the entries it bills, in one transaction."""
    return retrying(lambda: _assign(deps, org_id, cutoff, actor, new_id("claim")))


def _assign(
    deps: InvoicingDeps, org_id: str, cutoff: datetime, actor: str, token: str
) -> InvoicingResult:
    now = deps.clock.now()
    with deps.uow() as uow:
        uow.lock(f"invoicing:{org_id}")
        customer = uow.customers.for_org(org_id)
        if customer is None:  # and so no draft either: a draft is made for a customer
            totals = uow.usage_events.unbilled_totals(org_id, cutoff, BILLED_METRICS)
            outcome = Outcome.NO_CUSTOMER if totals else Outcome.NOTHING_TO_BILL
            return InvoicingResult(outcome, token=token)
        mine, theirs = _claim_unfinished(uow, org_id, token, now)
        invoice = UsageInvoice.draft(new_id("uinv"), org_id, cutoff, now, deps.price.currency)
        uow.usage_invoices.add(invoice)
        uow.usage_events.link_unbilled(org_id, cutoff, BILLED_METRICS, invoice.id)
        lines = price_totals(uow.usage_events.linked_totals(invoice.id), deps.price)
        outcome = _outcome(lines, True, deps.price)
        if outcome in (Outcome.NOTHING_TO_BILL, Outcome.BELOW_MINIMUM):
            uow.rollback()  # the draft and its links go; drafts claimed above are claimed anew
            mine, theirs = _claim_unfinished(uow, org_id, token, now)
            uow.commit()
            return InvoicingResult(
                outcome,
                theirs[-1] if theirs else None,
                tuple(lines),
                tuple(mine),
                customer.stripe_customer_id,
                token,
            )
        invoice.bill(lines)
        if outcome is Outcome.HELD:
            invoice.hold(AMOUNT_TOO_LARGE, now)
        else:
            uow.usage_invoices.claim(
                invoice.id,
                token,
                now,  # pragma: no mutate (a new draft has no claim yet)
                now + CLAIM_TTL,
            )
            mine.append(invoice)
        uow.usage_invoices.save(invoice, lines=True)
        action = "usage_invoice.held" if invoice.hold_reason else "usage_invoice.created"
        record_billing_change(
            uow,
            AuditEntry(
                org_id,
                now,
                actor,
                action,
                {
                    "invoice_id": invoice.id,
                    "total_minor": invoice.total.amount_minor,
                    "events": sum(line.event_count for line in lines),
                    "cutoff": cutoff.isoformat(),
                    **({"reason": invoice.hold_reason} if invoice.hold_reason else {}),
                },
            ),
        )
        announcements.invoice_created(uow, invoice, now)
        uow.commit()
    return InvoicingResult(
        outcome, invoice, tuple(lines), tuple(mine), customer.stripe_customer_id, token
    )


def _save(
    deps: InvoicingDeps,
    invoice: UsageInvoice,
    lines: bool = False,  # pragma: no mutate (every caller holds the lines it read)
) -> None:
    with deps.uow() as uow:
        uow.usage_invoices.save(invoice, lines=lines)
        uow.commit()


def push_to_stripe(
    deps: InvoicingDeps, invoice: UsageInvoice, customer_id: str | None = None
) -> UsageInvoice:
    """Phase 2, resumable: each step is skipped when already recorded, and repeats the same
    idempotency key when it is not. The caller holds the draft's claim."""
    if deps.gateway is None:
        raise PaymentsNotConfigured("payments are not configured: set STRIPE_SECRET_KEY")
    gateway = deps.gateway
    if customer_id is None:
        with deps.uow() as uow:
            customer = uow.customers.for_org(invoice.org_id)
        if customer is None:
            raise CustomerRequired("the organization has no Stripe customer")
        customer_id = customer.stripe_customer_id
    meta = {"usage_invoice_id": invoice.id, "org_id": invoice.org_id}
    if invoice.stripe_invoice_id is None:
        created = gateway.create_invoice(
            customer_id, invoice.total.currency, meta, idempotency_key=f"usage-invoice:{invoice.id}"
        )
        invoice.link_stripe(
            created.id,
            # Null on a draft: Stripe gives one when the invoice is finalized.
            created.hosted_invoice_url,  # pragma: no mutate
            deps.clock.now(),
        )
        _save(deps, invoice)
    assert invoice.stripe_invoice_id is not None
    for line in invoice.lines:
        if line.stripe_invoice_item_id is None:
            invoice.link_item(
                line,
                gateway.add_invoice_item(
                    customer_id,
                    invoice.stripe_invoice_id,
                    line.amount,
                    line.description,
                    {**meta, "metric": line.metric.value},
                    idempotency_key=f"usage-invoice-item:{invoice.id}:{line.metric.value}",
                ),
            )
            _save(deps, invoice, lines=True)  # each item kept as soon as Stripe has it
    final = gateway.finalize_invoice(
        invoice.stripe_invoice_id, idempotency_key=f"usage-invoice-finalize:{invoice.id}"
    )
    now = deps.clock.now()
    invoice.link_stripe(
        final.id, final.hosted_invoice_url, now
    )  # pragma: no mutate (the status change next stamps the same now)
    invoice.follow_stripe(final.status, InvoiceStatus.OPEN, now)
    _save(deps, invoice)
    return invoice


def _push_claimed(deps: InvoicingDeps, result: InvoicingResult) -> None:
    try:
        for invoice in result.claimed:
            # Saves a read only: without it, push_to_stripe looks the same customer up.
            push_to_stripe(deps, invoice, result.customer_id)  # pragma: no mutate
    finally:
        _release(deps, result)


def invoice_unbilled_usage(
    deps: InvoicingDeps, org_id: str, cutoff: datetime, actor: str = "system"
) -> InvoicingResult:
    """Bill the organization's unbilled usage before `cutoff`, and finish any invoice an
    earlier run left unfinalized. Safe to run twice or concurrently: a caller that finds the
    work done, or being done by another process, answers `nothing_to_bill` (with that invoice
    while it is still being finished) and calls Stripe for nothing."""
    result = assign_unbilled_usage(deps, org_id, cutoff, actor)
    if result.claimed and deps.gateway is None:
        _release(deps, result)
        raise PaymentsNotConfigured("payments are not configured: set STRIPE_SECRET_KEY")
    _push_claimed(deps, result)
    if result.outcome in (Outcome.INVOICED, Outcome.HELD):
        return result
    if result.claimed:  # nothing new, but this call finished an earlier draft
        last = result.claimed[-1]
        return InvoicingResult(Outcome.INVOICED, last, tuple(last.lines))
    return result


def _release(deps: InvoicingDeps, result: InvoicingResult) -> None:
    with deps.uow() as uow:
        for invoice in result.claimed:
            uow.usage_invoices.release(invoice.id, result.token)
        uow.commit()
