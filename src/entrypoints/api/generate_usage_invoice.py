"""POST /api/v1/billing/generate-usage-invoice: bill everything unbilled now."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from domain.errors import CustomerRequired
from domain.services.invoicing import Outcome, invoice_unbilled_usage
from entrypoints.api import presenters
from entrypoints.api.auth import CHANGE_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container, unbilled_cutoff
from entrypoints.api.docs import STRIPE_FAILURES, errors
from entrypoints.api.fields import Text
from entrypoints.api.schemas import InvoiceSchema

blp = Blueprint(
    "generate_usage_invoice",
    __name__,
    url_prefix="/api/v1/billing/generate-usage-invoice",
    description="Usage invoices on demand: voice words billed at the usage price, once.",
)


class GenerateResultSchema(ma.Schema):
    outcome = Text(
        required=True,
        metadata={
            "description": "invoiced; nothing_to_bill (with the invoice another request is still "
            "finishing, if any); below_minimum (under Stripe's minimum charge for "
            "the currency: carried forward); held (over Stripe's maximum amount: "
            "kept for an operator, not sent)"
        },
    )
    invoice = ma.fields.Nested(InvoiceSchema, allow_none=True, required=True)


@blp.route("", legacy="/api/billing/generate-usage-invoice")
class GenerateUsageInvoice(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.response(200, GenerateResultSchema)
    @errors(blp, 401, 403, CustomerRequired, *STRIPE_FAILURES)
    def post(self) -> dict[str, Any]:
        """Bill everything unbilled now: one usage invoice (lines per metric, words / 1,000 x
        the usage price, rounded half up to cents per line), created, itemized and finalized on
        Stripe with keys derived from its id. `nothing_to_bill` when there is none;
        `below_minimum` when the total is under Stripe's minimum charge (carried forward)."""
        result = invoice_unbilled_usage(
            container().invoicing,
            principal().org_id,
            unbilled_cutoff(),
            actor=f"user:{principal().sub}",
        )
        if result.outcome is Outcome.NO_CUSTOMER:
            raise CustomerRequired(
                "the organization has no Stripe customer: its usage stays "
                "unbilled until one exists (POST /api/v1/billing/customer)"
            )
        return {
            "outcome": result.outcome.value,
            "invoice": presenters.invoice(result.invoice) if result.invoice else None,
        }
