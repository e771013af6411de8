"""GET /api/v1/billing/dashboard: everything a billing page shows, in one call."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import marshmallow as ma
from flask.views import MethodView

from domain.errors import QuotaUnavailable
from domain.ports import UnitOfWorkFactory
from domain.services.alerts import spend_cap_status
from domain.services.billing_status import get_billing_status
from domain.services.invoicing import preview_usage_invoice
from domain.services.quotas import quota_status
from entrypoints.api import presenters
from entrypoints.api.auth import READ_BILLING, USE_QUOTA, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container, unbilled_cutoff
from entrypoints.api.docs import errors
from entrypoints.api.replica_reads import read_as_org
from entrypoints.api.schemas import (
    BillingStatusSchema,
    InvoiceSchema,
    LineSchema,
    MoneySchema,
    QuotaDecisionSchema,
    SpendCapSchema,
)

blp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/api/v1/billing/dashboard",
    description="The billing dashboard of an organization.",
)


class UsageSchema(ma.Schema):
    available = ma.fields.Boolean(
        required=True, metadata={"description": "false when the quota counter is unreachable"}
    )
    period_start = ma.fields.AwareDateTime(allow_none=True, required=True)
    period_end = ma.fields.AwareDateTime(allow_none=True, required=True)
    metrics = ma.fields.List(ma.fields.Nested(QuotaDecisionSchema), required=True)


class VoiceSchema(ma.Schema):
    unbilled_words = ma.fields.Integer(required=True)
    estimated_charge = ma.fields.Nested(MoneySchema, required=True)
    price_per_1000_words = ma.fields.String(required=True)
    lines = ma.fields.List(ma.fields.Nested(LineSchema), required=True)


class DashboardSchema(BillingStatusSchema):
    created_at = ma.fields.AwareDateTime(required=True)
    usage = ma.fields.Nested(UsageSchema, required=True)
    voice = ma.fields.Nested(VoiceSchema, required=True)
    spend_cap = ma.fields.Nested(
        SpendCapSchema,
        allow_none=True,
        required=True,
        metadata={"description": "the cap and this period's spend; null without the counter"},
    )
    recent_invoices = ma.fields.List(ma.fields.Nested(InvoiceSchema), required=True)


def dashboard() -> dict[str, Any]:
    c = container()
    org_id = principal().org_id
    cutoff = unbilled_cutoff()

    def read(uow_factory: UnitOfWorkFactory) -> tuple[Any, ...]:
        status = get_billing_status(
            uow_factory, c.clock, c.catalog, org_id, c.settings.grace_period
        )
        with uow_factory() as uow:
            organization = uow.organizations.get(org_id)
            invoices = uow.usage_invoices.recent(org_id, 5)
        preview = preview_usage_invoice(replace(c.invoicing, uow=uow_factory), org_id, cutoff)
        return status, organization, invoices, preview

    status, organization, invoices, preview = read_as_org("dashboard", read)
    body = presenters.billing_status(status)
    assert organization is not None  # created by authentication
    cap: dict[str, Any] | None = None
    try:
        report = quota_status(c.quota, org_id)
        usage = {
            "available": True,
            "period_start": report.window.period_start,
            "period_end": report.window.period_end,
            "metrics": [presenters.quota_decision(d) for d in report.decisions],
        }
        cap = presenters.spend_cap(spend_cap_status(c.quota, org_id, report))
    except QuotaUnavailable:
        usage = {"available": False, "period_start": None, "period_end": None, "metrics": []}
    estimate = presenters.invoice_preview(
        preview.outcome.value, preview.lines, c.invoicing.price.currency
    )
    body.update(
        created_at=organization.created_at,
        usage=usage,
        voice={
            "unbilled_words": sum(line.quantity for line in preview.lines),
            "estimated_charge": estimate["total"],
            "lines": estimate["lines"],
            "price_per_1000_words": str(c.invoicing.price.per_thousand),
        },
        recent_invoices=[presenters.invoice(i) for i in invoices],
        spend_cap=cap,
    )
    return body


@blp.route("", legacy="/api/billing/dashboard")
class Dashboard(MethodView):
    @requires(*READ_BILLING, *USE_QUOTA)
    @blp.response(200, DashboardSchema)
    @errors(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """The organization, its plan and subscription (status, period, cancel at period end),
        usage this period per metric against its limits, unbilled voice words with the
        estimated charge so far, the spend cap with the spend against it, and the five most
        recent invoices."""
        return dashboard()
