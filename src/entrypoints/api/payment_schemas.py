"""Request and response schemas of the payment endpoints. Unknown fields are refused (422)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from entrypoints.api.fields import SafeEmail, Text
from entrypoints.api.schemas import MoneySchema, SubscriptionSchema

URL = ma.fields.String(
    validate=ma.validate.Length(max=2048),
    load_default=None,
    metadata={
        "description": "Must match ALLOWED_REDIRECT_ORIGINS exactly by scheme, host and port"
    },
)


class CustomerRequest(ma.Schema):
    email = SafeEmail(required=True, validate=ma.validate.Length(max=320))
    name = Text(load_default=None, validate=ma.validate.Length(min=1, max=200))


class CustomerSchema(ma.Schema):
    stripe_customer_id = Text(required=True)
    email = Text(allow_none=True, required=True)
    name = Text(allow_none=True, required=True)
    created = ma.fields.Boolean(
        required=True, metadata={"description": "true when this call created the customer"}
    )


class SubscriptionCreateRequest(ma.Schema):
    plan_tier = Text(
        load_default=None, validate=ma.validate.Length(min=1, max=32), metadata={"example": "pro"}
    )
    stripe_price_id = Text(
        load_default=None,
        validate=ma.validate.Length(min=1, max=255),
        metadata={"description": "must be a price of the catalog"},
    )

    @ma.validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("plan_tier") is None) == (data.get("stripe_price_id") is None):
            raise ma.ValidationError("give exactly one of plan_tier and stripe_price_id")


class SubscriptionCreatedSchema(ma.Schema):
    subscription = ma.fields.Nested(SubscriptionSchema, required=True)
    client_secret = Text(
        allow_none=True,
        required=True,
        metadata={"description": "confirm the first payment with Stripe.js (confirmPayment)"},
    )
    latest_invoice_id = Text(allow_none=True, required=True)
    publishable_key = Text(allow_none=True, required=True)


class CheckoutRequestSchema(ma.Schema):
    plan_tier = Text(required=True, validate=ma.validate.Length(min=1, max=32))
    success_url = URL
    cancel_url = URL


class WhiteLabelRequestSchema(CheckoutRequestSchema):
    plan_tier = Text(load_default="white_label", validate=ma.validate.OneOf(["white_label"]))


class CheckoutSessionSchema(ma.Schema):
    session_id = Text(required=True)
    checkout_url = Text(allow_none=True, required=True)


class PortalRequestSchema(ma.Schema):
    return_url = URL


class PortalSessionSchema(ma.Schema):
    url = Text(required=True)


class PlanChangeRequest(ma.Schema):
    plan_tier = Text(required=True, validate=ma.validate.Length(min=1, max=32))
    proration_date = ma.fields.Integer(
        load_default=None,
        strict=True,
        validate=ma.validate.Range(min=0, max=2**32),
        metadata={
            "description": "Unix seconds: the `proration_date` of a preview, so the change "
            "charges exactly what the preview showed"
        },
    )


class PlanChangePreviewQuery(ma.Schema):
    plan_tier = Text(required=True, validate=ma.validate.Length(min=1, max=32))


class PlanChangePreviewSchema(ma.Schema):
    plan_tier = ma.fields.String(required=True)
    plan_name = ma.fields.String(required=True)
    upgrade = ma.fields.Boolean(required=True)
    proration_behavior = ma.fields.String(required=True)
    due_now = ma.fields.Nested(MoneySchema, required=True)
    prorations = ma.fields.Nested(
        MoneySchema,
        required=True,
        metadata={
            "description": "the price difference for the rest of the period (negative: a "
            "credit on the next invoice)"
        },
    )
    invoice_total = ma.fields.Nested(
        MoneySchema,
        required=True,
        metadata={"description": "upgrade: the invoice charged now; downgrade: the next invoice"},
    )
    proration_date = ma.fields.Integer(required=True)


class CancelRequest(ma.Schema):
    at_period_end = ma.fields.Boolean(
        load_default=True,
        metadata={"description": "true: cancel when the paid period ends; false: cancel now"},
    )


class EmptyRequest(ma.Schema):
    pass
