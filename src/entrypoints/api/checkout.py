"""POST /api/v1/billing/create-checkout-session: Stripe Checkout for a monthly plan."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.errors import PlanNotPurchasable, RedirectNotAllowed, SubscriptionExists, UnknownPlan
from domain.services.checkout import create_checkout
from entrypoints.api import presenters
from entrypoints.api.auth import CHANGE_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import payments
from entrypoints.api.docs import PAYMENT_WRITE, errors
from entrypoints.api.payment_schemas import CheckoutRequestSchema, CheckoutSessionSchema

blp = Blueprint(
    "checkout",
    __name__,
    url_prefix="/api/v1/billing/create-checkout-session",
    description="Stripe Checkout sessions for the monthly plans.",
)


@blp.route("")
class CheckoutSession(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(CheckoutRequestSchema())
    @blp.response(201, CheckoutSessionSchema)
    @errors(
        blp, *PAYMENT_WRITE, RedirectNotAllowed, SubscriptionExists, UnknownPlan, PlanNotPurchasable
    )
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """A Stripe Checkout session (mode=subscription) for a monthly plan.
        `client_reference_id` and metadata carry the organization, also onto the subscription.

        Stripe: the customer as above if missing, then `POST /v1/checkout/sessions`
        (key `checkout-create:<our checkout id>`)."""
        session = create_checkout(
            payments(),
            principal().org_id,
            body["plan_tier"],
            body.get("success_url"),
            body.get("cancel_url"),
        )
        return presenters.checkout_session(session)
