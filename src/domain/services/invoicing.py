"""Usage invoicing: every billable usage event billed exactly once.

Phase 1, one transaction under a per-organization lock: the organization's unbilled voice usage
before the cutoff becomes one new local invoice (lines priced per metric) and every one of those
events is assigned to it; a concurrent run finds nothing left. Phase 2 creates the Stripe invoice,
its items and finalizes it, each with an idempotency key derived from our invoice id, recording
each step, so a retry after a failure resumes where it stopped and ends with one Stripe invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.errors import CustomerRequired, PaymentsNotConfigured
from domain.model.audit import AuditEntry
from domain.model.ids import new_id
from domain.model.invoicing import (
    BILLED_METRICS,
    MINIMUM_CHARGE,
    InvoiceLine,
    InvoiceStatus,
    UsageInvoice,
    UsagePrice,
)
from domain.ports import Clock, PaymentGateway, UnitOfWorkFactory
from domain.services.audit import record_billing_change


class Outcome(StrEnum):
    INVOICED = "invoiced"
    NOTHING_TO_BILL = "nothing_to_bill"
    BELOW_MINIMUM = "below_minimum"  # carried forward to the next invoice
    NO_CUSTOMER = "no_customer"  # usage stays unbilled until the organization has a customer


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
    unfinished: tuple[UsageInvoice, ...] = ()  # drafts an earlier run left unfinalized
    customer_id: str | None = None


def preview_usage_invoice(deps: InvoicingDeps, org_id: str, cutoff: datetime) -> InvoicingResult:
    """What the next usage invoice would bill, creating nothing."""
    with deps.uow() as uow:
        lines = uow.usage_events.unbilled_lines(org_id, cutoff, BILLED_METRICS, deps.price)
        has_customer = uow.customers.for_org(org_id) is not None
    return InvoicingResult(_outcome(lines, has_customer, deps.price), None, tuple(lines))


def _outcome(lines: list[InvoiceLine], has_customer: bool, price: UsagePrice) -> Outcome:
    if not lines:
        return Outcome.NOTHING_TO_BILL
    if not has_customer:
        return Outcome.NO_CUSTOMER
    total = sum(line.amount.amount_minor for line in lines)
    if total < MINIMUM_CHARGE.get(price.currency, 0):
        return Outcome.BELOW_MINIMUM
    return Outcome.INVOICED


def assign_unbilled_usage(deps: InvoicingDeps, org_id: str, cutoff: datetime,
                          actor: str) -> InvoicingResult:
    """Phase 1: the local invoice and the events it bills, in one transaction."""
    now = deps.clock.now()
    with deps.uow() as uow:
        uow.lock(f"invoicing:{org_id}")
        unfinished = tuple(uow.usage_invoices.unfinalized(org_id))
        lines = uow.usage_events.unbilled_lines(org_id, cutoff, BILLED_METRICS, deps.price)
        customer = uow.customers.for_org(org_id)
        customer_id = customer.stripe_customer_id if customer else None
        outcome = _outcome(lines, customer is not None, deps.price)
        if outcome is not Outcome.INVOICED:
            return InvoicingResult(outcome, None, tuple(lines), unfinished, customer_id)
        invoice = UsageInvoice.draft(new_id("uinv"), org_id, lines, cutoff, now,
                                     deps.price.currency)
        uow.usage_invoices.add(invoice)
        assigned = uow.usage_events.assign_unbilled(org_id, cutoff, BILLED_METRICS, invoice.id)
        expected = sum(line.event_count for line in lines)
        if assigned != expected:  # cannot happen under the lock; refuse rather than misbill
            raise RuntimeError(f"assigned {assigned} events, priced {expected}")
        record_billing_change(uow, AuditEntry(org_id, now, actor, "usage_invoice.created", {
            "invoice_id": invoice.id, "total_minor": invoice.total.amount_minor,
            "events": expected, "cutoff": cutoff.isoformat()}))
        uow.commit()
    return InvoicingResult(Outcome.INVOICED, invoice, tuple(lines), unfinished, customer_id)


def _save(deps: InvoicingDeps, invoice: UsageInvoice, lines: bool = False) -> None:
    with deps.uow() as uow:
        uow.usage_invoices.save(invoice, lines=lines)
        uow.commit()


def push_to_stripe(deps: InvoicingDeps, invoice: UsageInvoice,
                   customer_id: str | None = None) -> UsageInvoice:
    """Phase 2, resumable: each step is skipped when already recorded, and repeats the same
    idempotency key when it is not."""
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
        created = gateway.create_invoice(customer_id, invoice.total.currency,
                                         meta, idempotency_key=f"usage-invoice:{invoice.id}")
        invoice.link_stripe(created.id, created.hosted_invoice_url, deps.clock.now())
        _save(deps, invoice)
    assert invoice.stripe_invoice_id is not None
    missing = [line for line in invoice.lines if line.stripe_invoice_item_id is None]
    for line in missing:
        line.stripe_invoice_item_id = gateway.add_invoice_item(
            customer_id, invoice.stripe_invoice_id, line.amount,
            line.description, {**meta, "metric": line.metric.value},
            idempotency_key=f"usage-invoice-item:{invoice.id}:{line.metric.value}")
    if missing:  # recorded together: a retry inside Stripe's 24 h key window replays them
        _save(deps, invoice, lines=True)
    final = gateway.finalize_invoice(invoice.stripe_invoice_id,
                                     idempotency_key=f"usage-invoice-finalize:{invoice.id}")
    now = deps.clock.now()
    invoice.link_stripe(final.id, final.hosted_invoice_url, now)
    invoice.set_status(InvoiceStatus.PAID if final.status == "paid" else InvoiceStatus.OPEN, now)
    _save(deps, invoice)
    return invoice


def invoice_unbilled_usage(deps: InvoicingDeps, org_id: str, cutoff: datetime,
                           actor: str = "system") -> InvoicingResult:
    """Bill the organization's unbilled usage before `cutoff`, and finish any invoice an
    earlier run left unfinalized. Safe to run twice or concurrently."""
    result = assign_unbilled_usage(deps, org_id, cutoff, actor)
    for invoice in result.unfinished:
        push_to_stripe(deps, invoice, result.customer_id)
    if result.invoice is not None:
        return InvoicingResult(result.outcome,
                               push_to_stripe(deps, result.invoice, result.customer_id),
                               result.lines)
    if result.unfinished:
        last = result.unfinished[-1]
        return InvoicingResult(Outcome.INVOICED, last, tuple(last.lines))
    return result
