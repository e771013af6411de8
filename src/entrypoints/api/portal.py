"""POST /api/v1/billing/portal-session: the Stripe customer portal."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.errors import CustomerRequired, RedirectNotAllowed
from domain.services.checkout import open_portal
from entrypoints.api.auth import CHANGE_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import payments
from entrypoints.api.docs import PAYMENT_WRITE, errors
from entrypoints.api.payment_schemas import PortalRequestSchema, PortalSessionSchema

blp = Blueprint(
    "portal",
    __name__,
    url_prefix="/api/v1/billing/portal-session",
    description="The Stripe customer portal: payment methods and invoices.",
)


@blp.route("")
class PortalSession(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(PortalRequestSchema())
    @blp.response(201, PortalSessionSchema)
    @errors(blp, *PAYMENT_WRITE, RedirectNotAllowed, CustomerRequired)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """The Stripe customer portal (payment methods, invoices) for the organization.

        Stripe: `POST /v1/billing_portal/sessions`
        (key `portal:<org_id>:<hash of return_url>:<UTC minute>`)."""
        return {"url": open_portal(payments(), principal().org_id, body.get("return_url"))}
