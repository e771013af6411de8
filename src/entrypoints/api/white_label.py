"""POST /api/v1/white-label/purchase: the one-time White-Label plan."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.errors import AlreadyPurchased, RedirectNotAllowed
from domain.services.checkout import purchase_white_label
from entrypoints.api import presenters
from entrypoints.api.auth import CHANGE_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import payments
from entrypoints.api.docs import PAYMENT_WRITE, errors
from entrypoints.api.payment_schemas import CheckoutSessionSchema, WhiteLabelRequestSchema

blp = Blueprint(
    "white_label",
    __name__,
    url_prefix="/api/v1/white-label",
    description="The one-time White-Label purchase.",
)


@blp.route("/purchase")
class WhiteLabelPurchase(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(WhiteLabelRequestSchema())
    @blp.response(201, CheckoutSessionSchema)
    @errors(blp, *PAYMENT_WRITE, RedirectNotAllowed, AlreadyPurchased)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """A one-time (mode=payment) Checkout session for the white-label plan. The purchase is
        recorded pending now and paid once, when Stripe reports the session completed.

        Stripe: the customer as above if missing, then `POST /v1/checkout/sessions`
        (key `purchase-checkout:<our purchase id>`)."""
        session = purchase_white_label(
            payments(),
            principal().org_id,
            body["plan_tier"],
            body.get("success_url"),
            body.get("cancel_url"),
        )
        return presenters.checkout_session(session)
