"""GET /api/v1/billing/invoices: usage invoices, each with the events its lines bill, and a
preview of the next one."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView

from domain.errors import UsageArchived
from domain.model.invoicing import UsageInvoice
from domain.model.plans import Metric
from domain.ports import UnitOfWork
from domain.services.invoicing import preview_usage_invoice
from entrypoints.api import presenters
from entrypoints.api.auth import READ_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint, abort
from entrypoints.api.container import container, unbilled_cutoff
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text
from entrypoints.api.schemas import InvoiceSchema, LineSchema, MoneySchema
from entrypoints.api.security import security_event

blp = Blueprint(
    "invoices",
    __name__,
    url_prefix="/api/v1/billing/invoices",
    description="Usage invoices: voice words billed at the usage price, once.",
)


class PageQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=100_000))


class InvoiceListSchema(ma.Schema):
    invoices = ma.fields.List(ma.fields.Nested(InvoiceSchema), required=True)


class EventsQuery(ma.Schema):
    events_limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=0, max=500))
    events_offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=10**9))


class BilledEventSchema(ma.Schema):
    idempotency_key = Text(required=True)
    quantity = ma.fields.Integer(required=True)
    occurred_at = ma.fields.AwareDateTime(required=True)
    conversation_id = Text(allow_none=True, required=True)


class LineDetailSchema(LineSchema):
    events = ma.fields.List(
        ma.fields.Nested(BilledEventSchema),
        required=True,
        metadata={
            "description": "a page of the events this line bills (events_limit, events_offset)"
        },
    )


class InvoiceDetailSchema(InvoiceSchema):
    lines = ma.fields.List(ma.fields.Nested(LineDetailSchema), required=True)
    archived_months = ma.fields.List(
        Text(),
        required=True,
        metadata={
            "description": "months (YYYY-MM) of the invoice's period whose raw events were "
            "archived: their lines keep the words and amounts, their events are no longer listed"
        },
    )


class PreviewSchema(ma.Schema):
    outcome = Text(required=True)
    total = ma.fields.Nested(MoneySchema, required=True)
    lines = ma.fields.List(ma.fields.Nested(LineSchema), required=True)


@blp.route("")
class Invoices(MethodView):
    @requires(*READ_BILLING)
    @blp.arguments(PageQuery(), location="query")
    @blp.response(200, InvoiceListSchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The organization's usage invoices, newest first, with Stripe status and hosted URL."""
        with container().uow() as uow:
            found = uow.usage_invoices.recent(principal().org_id, args["limit"], args["offset"])
        return {"invoices": [presenters.invoice(i) for i in found]}


@blp.route("/preview")
class InvoicePreview(MethodView):
    @requires(*READ_BILLING)
    @blp.response(200, PreviewSchema)
    @errors(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """What the next usage invoice would bill now, without creating anything."""
        c = container()
        result = preview_usage_invoice(c.invoicing, principal().org_id, unbilled_cutoff())
        return presenters.invoice_preview(
            result.outcome.value, result.lines, c.invoicing.price.currency
        )


def _own_invoice(uow: UnitOfWork, invoice_id: str) -> UsageInvoice:
    invoice = uow.usage_invoices.get(principal().org_id, invoice_id)
    if invoice is None:
        if uow.usage_invoices.exists(invoice_id):  # another organization's
            security_event("cross_tenant", object="usage_invoice", object_id=invoice_id)
        abort(404, message="no such invoice")
    return invoice


CSV_COLUMNS = ("metric", "quantity", "occurred_at", "idempotency_key", "conversation_id", "source")
CSV_PAGE = 5_000


@blp.route("/<invoice_id>/events.csv")
class InvoiceEventsCsv(MethodView):
    @requires(*READ_BILLING)
    @blp.response(
        200, content_type="text/csv", description="One row per usage event the invoice bills"
    )
    @errors(blp, 401, 403, 404, UsageArchived)
    def get(self, invoice_id: str) -> Response:
        """Every usage event the invoice bills, as CSV (metric, quantity, occurred_at,
        idempotency_key, conversation_id, source), in the order they happened: the sum of
        `quantity` per metric is the line's quantity."""
        uow = container().uow()
        with uow:
            invoice = _own_invoice(uow, invoice_id)
            billed = sum(line.event_count for line in invoice.lines)
            events = [
                event
                for offset in range(0, billed, CSV_PAGE)
                for event in uow.usage_events.billed_by(invoice.id, None, CSV_PAGE, offset)
            ]
            archived = uow.usage_events.archived_months(invoice.period_start, invoice.period_end)
        if len(events) < billed and archived:
            months = ", ".join(f"{month:%Y-%m}" for month in archived)
            raise UsageArchived(
                f"the raw events of {months} were archived; the invoice's lines keep their "
                "words and amounts",
                archived_months=[f"{month:%Y-%m}" for month in archived],
            )

        def rows() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            for event in events:
                writer.writerow(
                    (
                        event.metric.value,
                        event.quantity,
                        event.occurred_at.isoformat(),
                        event.idempotency_key,
                        event.conversation_id or "",
                        event.source.value,
                    )
                )
                if buffer.tell() > 64 * 1024:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        return Response(
            rows(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{invoice.id}-events.csv"'},
        )


@blp.route("/<invoice_id>")
class InvoiceDetail(MethodView):
    @requires(*READ_BILLING)
    @blp.arguments(EventsQuery(), location="query")
    @blp.response(200, InvoiceDetailSchema)
    @errors(blp, 401, 403, 404, 422)
    def get(self, args: dict[str, Any], invoice_id: str) -> dict[str, Any]:
        """One invoice with its lines and, per line, a page of the usage events it bills.
        Another organization's invoice answers 404, like a missing one."""
        with container().uow() as uow:
            invoice = _own_invoice(uow, invoice_id)
            shown = presenters.invoice(invoice)
            archived = uow.usage_events.archived_months(invoice.period_start, invoice.period_end)
            shown["archived_months"] = [f"{month:%Y-%m}" for month in archived]
            for line, view in zip(invoice.lines, shown["lines"], strict=True):
                events = uow.usage_events.billed_by(
                    invoice.id, Metric(line.metric), args["events_limit"], args["events_offset"]
                )
                view["events"] = [presenters.billed_event(e) for e in events]
        return shown
