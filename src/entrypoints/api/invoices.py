"""Usage invoices: generate now, list, inspect with the events each line bills, preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import abort

from domain.errors import CustomerRequired
from domain.model.invoicing import InvoiceLine, UsageInvoice
from domain.model.money import Money
from domain.model.plans import Metric
from domain.services.invoicing import Outcome, invoice_unbilled_usage, preview_usage_invoice
from domain.services.metering import FUTURE_SKEW
from entrypoints.api import presenters
from entrypoints.api.auth import CHANGE_BILLING, READ_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.docs import STRIPE_FAILURES, errors
from entrypoints.api.fields import Text
from entrypoints.api.schemas import MoneySchema
from entrypoints.api.security import security_event

blp = Blueprint("invoices", __name__, url_prefix="/api/v1/billing",
                description="Usage invoices: voice words billed at the usage price, once.")
legacy = Blueprint("invoices_legacy", __name__, url_prefix="/api/billing",
                   description="Deprecated unversioned aliases of the older guide.")


class LineSchema(ma.Schema):
    metric = Text(required=True)
    quantity = ma.fields.Integer(required=True, metadata={"description": "words billed"})
    amount = ma.fields.Nested(MoneySchema, required=True)
    event_count = ma.fields.Integer(required=True)
    period_start = ma.fields.AwareDateTime(required=True)
    period_end = ma.fields.AwareDateTime(required=True)
    description = Text(required=True)


class InvoiceSchema(ma.Schema):
    id = Text(required=True)
    status = Text(required=True)
    total = ma.fields.Nested(MoneySchema, required=True)
    period_start = ma.fields.AwareDateTime(required=True)
    period_end = ma.fields.AwareDateTime(required=True)
    stripe_invoice_id = Text(allow_none=True, required=True)
    hosted_invoice_url = Text(allow_none=True, required=True)
    hold_reason = Text(allow_none=True, required=True, metadata={
        "description": "why a `held` invoice was kept from Stripe: `amount_too_large` (over "
                       "Stripe's maximum amount, 99,999,999 minor units)"})
    created_at = ma.fields.AwareDateTime(required=True)
    lines = ma.fields.List(ma.fields.Nested(LineSchema), required=True)


class GenerateResultSchema(ma.Schema):
    outcome = Text(required=True, metadata={
        "description": "invoiced; nothing_to_bill (with the invoice another request is still "
                       "finishing, if any); below_minimum (under Stripe's minimum charge for "
                       "the currency: carried forward); held (over Stripe's maximum amount: "
                       "kept for an operator, not sent)"})
    invoice = ma.fields.Nested(InvoiceSchema, allow_none=True, required=True)


class PageQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=100_000))


class InvoiceListSchema(ma.Schema):
    invoices = ma.fields.List(ma.fields.Nested(InvoiceSchema), required=True)


class EventsQuery(ma.Schema):
    events_limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=0, max=500))
    events_offset = ma.fields.Integer(load_default=0,
                                      validate=ma.validate.Range(min=0, max=10**9))


class BilledEventSchema(ma.Schema):
    idempotency_key = Text(required=True)
    quantity = ma.fields.Integer(required=True)
    occurred_at = ma.fields.AwareDateTime(required=True)
    conversation_id = Text(allow_none=True, required=True)


class LineDetailSchema(LineSchema):
    events = ma.fields.List(ma.fields.Nested(BilledEventSchema), required=True, metadata={
        "description": "a page of the events this line bills (events_limit, events_offset)"})


class InvoiceDetailSchema(InvoiceSchema):
    lines = ma.fields.List(ma.fields.Nested(LineDetailSchema), required=True)


class PreviewSchema(ma.Schema):
    outcome = Text(required=True)
    total = ma.fields.Nested(MoneySchema, required=True)
    lines = ma.fields.List(ma.fields.Nested(LineSchema), required=True)


def line_view(line: InvoiceLine) -> dict[str, Any]:
    return {"metric": line.metric.value, "quantity": line.quantity,
            "amount": presenters.money(line.amount), "event_count": line.event_count,
            "period_start": line.period_start, "period_end": line.period_end,
            "description": line.description}


def invoice_view(invoice: UsageInvoice) -> dict[str, Any]:
    return {"id": invoice.id, "status": invoice.status.value,
            "total": presenters.money(invoice.total), "period_start": invoice.period_start,
            "period_end": invoice.period_end, "stripe_invoice_id": invoice.stripe_invoice_id,
            "hosted_invoice_url": invoice.hosted_invoice_url, "hold_reason": invoice.hold_reason,
            "created_at": invoice.created_at,
            "lines": [line_view(line) for line in invoice.lines]}


def everything_now() -> datetime:
    """The cutoff for "everything unbilled now": events may be stamped up to 5 minutes ahead."""
    return container().clock.now() + FUTURE_SKEW


def generate() -> dict[str, Any]:
    c = container()
    org_id = principal().org_id
    result = invoice_unbilled_usage(c.invoicing, org_id, everything_now(),
                                    actor=f"user:{principal().sub}")
    if result.outcome is Outcome.NO_CUSTOMER:
        raise CustomerRequired("the organization has no Stripe customer: its usage stays "
                               "unbilled until one exists (POST /api/v1/billing/customer)")
    return {"outcome": result.outcome.value,
            "invoice": invoice_view(result.invoice) if result.invoice else None}


GENERATE_ERRORS = (401, 403, CustomerRequired, *STRIPE_FAILURES)


@blp.route("/generate-usage-invoice")
class GenerateUsageInvoice(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.response(200, GenerateResultSchema)
    @errors(blp, *GENERATE_ERRORS)
    def post(self) -> dict[str, Any]:
        """Bill everything unbilled now: one usage invoice (lines per metric, words / 1,000 x
        the usage price, rounded half up to cents per line), created, itemized and finalized on
        Stripe with keys derived from its id. `nothing_to_bill` when there is none;
        `below_minimum` when the total is under Stripe's minimum charge (carried forward)."""
        return generate()


@legacy.route("/generate-usage-invoice")
class LegacyGenerateUsageInvoice(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @legacy.response(200, GenerateResultSchema)
    @legacy.doc(deprecated=True)
    @errors(legacy, *GENERATE_ERRORS)
    def post(self) -> dict[str, Any]:
        """Deprecated alias of `POST /api/v1/billing/generate-usage-invoice`."""
        return generate()


@blp.route("/invoices")
class Invoices(MethodView):
    @requires(*READ_BILLING)
    @blp.arguments(PageQuery(), location="query")
    @blp.response(200, InvoiceListSchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The organization's usage invoices, newest first, with Stripe status and hosted URL."""
        with container().uow() as uow:
            found = uow.usage_invoices.recent(principal().org_id, args["limit"], args["offset"])
        return {"invoices": [invoice_view(i) for i in found]}


@blp.route("/invoices/preview")
class InvoicePreview(MethodView):
    @requires(*READ_BILLING)
    @blp.response(200, PreviewSchema)
    @errors(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """What the next usage invoice would bill now, without creating anything."""
        c = container()
        result = preview_usage_invoice(c.invoicing, principal().org_id, everything_now())
        return preview_view(result.outcome.value, result.lines, c.invoicing.price.currency)


def preview_view(outcome: str, lines: tuple[InvoiceLine, ...], currency: str) -> dict[str, Any]:
    total = sum((line.amount for line in lines), Money.zero(currency))
    return {"outcome": outcome, "total": presenters.money(total),
            "lines": [line_view(line) for line in lines]}


@blp.route("/invoices/<invoice_id>")
class InvoiceDetail(MethodView):
    @requires(*READ_BILLING)
    @blp.arguments(EventsQuery(), location="query")
    @blp.response(200, InvoiceDetailSchema)
    @errors(blp, 401, 403, 404, 422)
    def get(self, args: dict[str, Any], invoice_id: str) -> dict[str, Any]:
        """One invoice with its lines and, per line, a page of the usage events it bills.
        Another organization's invoice answers 404, like a missing one."""
        with container().uow() as uow:
            invoice = uow.usage_invoices.get(principal().org_id, invoice_id)
            if invoice is None:
                if uow.usage_invoices.exists(invoice_id):  # another organization's
                    security_event("cross_tenant", object="usage_invoice", object_id=invoice_id)
                abort(404, message="no such invoice")
            view = invoice_view(invoice)
            for line, shown in zip(invoice.lines, view["lines"], strict=True):
                events = uow.usage_events.billed_by(invoice.id, Metric(line.metric),
                                                    args["events_limit"],
                                                    args["events_offset"])
                shown["events"] = [{"idempotency_key": e.idempotency_key,
                                    "quantity": e.quantity, "occurred_at": e.occurred_at,
                                    "conversation_id": e.conversation_id} for e in events]
        return view
