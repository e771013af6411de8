"""The organization's subscription: created directly, its plan changed with proration,
canceled and resumed."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.errors import (
    NoSubscription,
    PaymentDeclined,
    PlanNotPurchasable,
    PlanUnchanged,
    SubscriptionExists,
    SubscriptionNotResumable,
    UnknownPlan,
    UnknownPrice,
)
from domain.services.subscriptions import (
    cancel_subscription,
    change_plan,
    create_subscription,
    preview_plan_change,
    resume_subscription,
)
from entrypoints.api import presenters
from entrypoints.api.auth import CHANGE_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container, payments
from entrypoints.api.docs import PAYMENT_WRITE, errors
from entrypoints.api.payment_schemas import (
    CancelRequest,
    EmptyRequest,
    PlanChangePreviewQuery,
    PlanChangePreviewSchema,
    PlanChangeRequest,
    SubscriptionCreatedSchema,
    SubscriptionCreateRequest,
)
from entrypoints.api.schemas import SubscriptionSchema

blp = Blueprint(
    "subscriptions",
    __name__,
    url_prefix="/api/v1/billing/subscription",
    description="Create, change, cancel and resume the organization's subscription.",
)


@blp.route("", legacy="/api/billing/subscription")
class SubscriptionCreate(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(SubscriptionCreateRequest())
    @blp.response(201, SubscriptionCreatedSchema)
    @errors(
        blp,
        *PAYMENT_WRITE,
        PaymentDeclined,
        SubscriptionExists,
        UnknownPlan,
        UnknownPrice,
        PlanNotPurchasable,
    )
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create the subscription directly (`payment_behavior=default_incomplete`) and answer
        the client secret the front end confirms the first payment with. A second live
        subscription is refused (409): change the plan instead.

        Stripe: the customer as above if missing, then `POST /v1/subscriptions`
        (key `subscription-create:<org_id>:<n>`, n = the organization's subscription count + 1)."""
        intent = create_subscription(
            payments(), principal().org_id, body.get("plan_tier"), body.get("stripe_price_id")
        )
        return presenters.subscription_intent(intent, container().settings.stripe_public_key)


@blp.route("/change")
class ChangePlan(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(PlanChangeRequest())
    @blp.response(200, SubscriptionSchema)
    @errors(
        blp,
        *PAYMENT_WRITE,
        PaymentDeclined,
        NoSubscription,
        PlanUnchanged,
        UnknownPlan,
        PlanNotPurchasable,
    )
    def post(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Upgrade or downgrade. Proration: an upgrade uses `proration_behavior=always_invoice`
        (the difference for the rest of the period is invoiced and charged now); a downgrade
        uses `create_prorations` (the unused part becomes a credit on the next invoice).

        Stripe: `GET /v1/subscriptions/<id>` (the item to change), then
        `POST /v1/subscriptions/<id>` (key `subscription-change:<sub id>:<price id>:<version>`,
        version = our record's last-update time in microseconds)."""
        sub = change_plan(payments(), principal().org_id, body["plan_tier"], body["proration_date"])
        return presenters.subscription(sub)


@blp.route("/change-preview")
class ChangePreview(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(PlanChangePreviewQuery(), location="query")
    @blp.response(200, PlanChangePreviewSchema)
    @errors(blp, *PAYMENT_WRITE, NoSubscription, PlanUnchanged, UnknownPlan, PlanNotPurchasable)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """What a change of plan would charge now (an upgrade) or credit on the next invoice
        (a downgrade), from Stripe's invoice preview; nothing is changed. Send its
        `proration_date` with the change to be charged exactly this.

        Stripe: `GET /v1/subscriptions/<id>`, then `POST /v1/invoices/create_preview`."""
        preview = preview_plan_change(payments(), principal().org_id, args["plan_tier"])
        return presenters.plan_change_preview(preview)


@blp.route("/cancel")
class Cancel(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(CancelRequest())
    @blp.response(200, SubscriptionSchema)
    @errors(blp, *PAYMENT_WRITE, NoSubscription)
    def post(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Cancel at the end of the paid period (default) or, with `at_period_end=false`, now.

        Stripe: `POST /v1/subscriptions/<id>` with `cancel_at_period_end=true`, or
        `DELETE /v1/subscriptions/<id>` (key `subscription-cancel:<sub id>:<1|0>:<version>`)."""
        sub = cancel_subscription(payments(), principal().org_id, body["at_period_end"])
        return presenters.subscription(sub)


@blp.route("/resume")
class Resume(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(EmptyRequest())
    @blp.response(200, SubscriptionSchema)
    @errors(blp, *PAYMENT_WRITE, NoSubscription, SubscriptionNotResumable)
    def post(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Undo a cancellation scheduled for the period's end.

        Stripe: `POST /v1/subscriptions/<id>` with `cancel_at_period_end=false`
        (key `subscription-resume:<sub id>:<version>`)."""
        return presenters.subscription(resume_subscription(payments(), principal().org_id))
