"""Customer, direct subscription, Checkout, white-label purchase and the customer portal."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.errors import (
    AlreadyPurchased,
    CustomerRequired,
    PaymentDeclined,
    PlanNotPurchasable,
    RedirectNotAllowed,
    SubscriptionExists,
    UnknownPlan,
    UnknownPrice,
)
from domain.services import checkout
from domain.services.customers import ensure_customer
from domain.services.subscriptions import create_subscription
from entrypoints.api import presenters
from entrypoints.api.auth import CHANGE_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container, payments
from entrypoints.api.docs import PAYMENT_WRITE, errors
from entrypoints.api.payment_schemas import (
    CheckoutRequestSchema,
    CheckoutSessionSchema,
    CustomerRequest,
    CustomerSchema,
    PortalRequestSchema,
    PortalSessionSchema,
    SubscriptionCreatedSchema,
    SubscriptionCreateRequest,
    WhiteLabelRequestSchema,
)

blp = Blueprint("payments", __name__, url_prefix="/api/v1",
                description="Stripe customers, subscriptions, Checkout and the customer portal.")
legacy = Blueprint("payments_legacy", __name__, url_prefix="/api/billing",
                   description="Deprecated unversioned aliases of the older guide.")


def upsert_customer(body: dict[str, Any]) -> dict[str, Any]:
    customer, created = ensure_customer(payments(), principal().org_id,
                                        body["email"], body.get("name"))
    return {"stripe_customer_id": customer.stripe_customer_id, "email": customer.email,
            "name": customer.name, "created": created}


def subscribe(body: dict[str, Any]) -> dict[str, Any]:
    intent = create_subscription(payments(), principal().org_id,
                                 body.get("plan_tier"), body.get("stripe_price_id"))
    return presenters.subscription_intent(intent, container().settings.stripe_public_key)


@blp.route("/billing/customer")
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
        return upsert_customer(body)


@blp.route("/billing/subscription")
class SubscriptionCreate(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(SubscriptionCreateRequest())
    @blp.response(201, SubscriptionCreatedSchema)
    @errors(blp, *PAYMENT_WRITE, PaymentDeclined, SubscriptionExists, UnknownPlan, UnknownPrice,
            PlanNotPurchasable)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create the subscription directly (`payment_behavior=default_incomplete`) and answer
        the client secret the front end confirms the first payment with. A second live
        subscription is refused (409): change the plan instead.

        Stripe: the customer as above if missing, then `POST /v1/subscriptions`
        (key `subscription-create:<org_id>:<n>`, n = the organization's subscription count + 1)."""
        return subscribe(body)


@blp.route("/billing/create-checkout-session")
class CheckoutSession(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(CheckoutRequestSchema())
    @blp.response(201, CheckoutSessionSchema)
    @errors(blp, *PAYMENT_WRITE, RedirectNotAllowed, SubscriptionExists, UnknownPlan,
            PlanNotPurchasable)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """A Stripe Checkout session (mode=subscription) for a monthly plan.
        `client_reference_id` and metadata carry the organization, also onto the subscription.

        Stripe: the customer as above if missing, then `POST /v1/checkout/sessions`
        (key `checkout-create:<our checkout id>`)."""
        session = checkout.create_checkout(payments(), principal().org_id,
                                           body["plan_tier"], body.get("success_url"),
                                           body.get("cancel_url"))
        return {"session_id": session.id, "checkout_url": session.url}


@blp.route("/white-label/purchase")
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
        session = checkout.purchase_white_label(payments(), principal().org_id,
                                                body["plan_tier"], body.get("success_url"),
                                                body.get("cancel_url"))
        return {"session_id": session.id, "checkout_url": session.url}


@blp.route("/billing/portal-session")
class PortalSession(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(PortalRequestSchema())
    @blp.response(201, PortalSessionSchema)
    @errors(blp, *PAYMENT_WRITE, RedirectNotAllowed, CustomerRequired)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """The Stripe customer portal (payment methods, invoices) for the organization.

        Stripe: `POST /v1/billing_portal/sessions`
        (key `portal:<org_id>:<hash of return_url>:<UTC minute>`)."""
        return {"url": checkout.open_portal(payments(), principal().org_id,
                                            body.get("return_url"))}


@legacy.route("/customer")
class LegacyCustomer(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @legacy.arguments(CustomerRequest())
    @legacy.response(200, CustomerSchema)
    @legacy.doc(deprecated=True)
    @errors(legacy, *PAYMENT_WRITE)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Deprecated alias of `POST /api/v1/billing/customer`."""
        return upsert_customer(body)


@legacy.route("/subscription")
class LegacySubscription(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @legacy.arguments(SubscriptionCreateRequest())
    @legacy.response(201, SubscriptionCreatedSchema)
    @legacy.doc(deprecated=True)
    @errors(legacy, *PAYMENT_WRITE, PaymentDeclined, SubscriptionExists)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Deprecated alias of `POST /api/v1/billing/subscription`."""
        return subscribe(body)
