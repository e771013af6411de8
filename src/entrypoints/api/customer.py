"""POST /api/v1/billing/customer: the organization's Stripe customer."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.services.customers import ensure_customer
from entrypoints.api import presenters
from entrypoints.api.auth import CHANGE_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import payments
from entrypoints.api.docs import PAYMENT_WRITE, errors
from entrypoints.api.payment_schemas import CustomerRequest, CustomerSchema

blp = Blueprint(
    "customer",
    __name__,
    url_prefix="/api/v1/billing/customer",
    description="The organization's Stripe customer.",
)


@blp.route("", legacy="/api/billing/customer")
class Customer(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(CustomerRequest())
    @blp.response(200, CustomerSchema)
    @errors(blp, *PAYMENT_WRITE)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """The organization's Stripe customer: created once, later calls update email/name.

        Stripe: `POST /v1/customers` (idempotency key `customer-create:<org_id>`) the first time,
        then `POST /v1/customers/<id>` (key `customer-update:<org_id>:<hash of email, name>`)
        when the email or name changed."""
        customer, created = ensure_customer(
            payments(), principal().org_id, body["email"], body.get("name")
        )
        return presenters.customer(customer, created)
