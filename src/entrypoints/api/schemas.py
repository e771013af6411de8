"""Marshmallow schemas: only at the HTTP edge."""

from __future__ import annotations

import marshmallow as ma

from entrypoints.api.fields import Text


class MoneySchema(ma.Schema):
    amount_minor = ma.fields.Integer(required=True, metadata={"description": "Minor units (cents)"})
    currency = ma.fields.String(required=True, metadata={"example": "usd"})
    display = ma.fields.String(required=True, metadata={"example": "29.00 USD"})


class QuotaSchema(ma.Schema):
    limit = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "null means unlimited"}
    )
    unlimited = ma.fields.Boolean(required=True)
    kind = ma.fields.String(
        required=True,
        metadata={"description": "counter (per billing period) or gauge (what exists now)"},
    )


class PlanSchema(ma.Schema):
    tier = ma.fields.String(required=True, metadata={"example": "starter"})
    name = ma.fields.String(required=True)
    aliases = ma.fields.List(ma.fields.String(), required=True)
    price = ma.fields.Nested(MoneySchema, required=True)
    interval = ma.fields.String(required=True, metadata={"description": "month or one_time"})
    quotas = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Nested(QuotaSchema), required=True
    )
    features = ma.fields.List(ma.fields.String(), required=True)


class PlanListSchema(ma.Schema):
    plans = ma.fields.List(ma.fields.Nested(PlanSchema), required=True)
    default_tier = ma.fields.String(required=True)


class SubscriptionSchema(ma.Schema):
    stripe_subscription_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    tier = ma.fields.String(allow_none=True, required=True)
    current_period_start = ma.fields.AwareDateTime(allow_none=True, required=True)
    current_period_end = ma.fields.AwareDateTime(allow_none=True, required=True)
    cancel_at_period_end = ma.fields.Boolean(required=True)


class BillingStatusSchema(ma.Schema):
    org_id = ma.fields.String(required=True)
    plan = ma.fields.Nested(PlanSchema, required=True)
    plan_source = ma.fields.String(
        required=True, metadata={"description": "default, subscription, grace_period or purchase"}
    )
    status = ma.fields.String(
        required=True, metadata={"description": "the subscription's Stripe status, or none"}
    )
    subscription = ma.fields.Nested(SubscriptionSchema, allow_none=True, required=True)
    has_stripe_customer = ma.fields.Boolean(required=True)


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Boolean())


class QuotaDecisionSchema(ma.Schema):
    allowed = ma.fields.Boolean(required=True)
    metric = Text(required=True)
    used = ma.fields.Integer(allow_none=True, required=True)
    limit = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "null: unlimited"}
    )
    remaining = ma.fields.Integer(allow_none=True, required=True)
    resets_at = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "end of the billing period; null for gauges"},
    )
    duplicate = ma.fields.Boolean(required=True)


class LineSchema(ma.Schema):
    metric = Text(required=True)
    quantity = ma.fields.Integer(required=True, metadata={"description": "words billed"})
    amount = ma.fields.Nested(MoneySchema, required=True)
    event_count = ma.fields.Integer(required=True)
    period_start = ma.fields.AwareDateTime(required=True)
    period_end = ma.fields.AwareDateTime(required=True)
    description = Text(required=True)


class InvoiceSchema(ma.Schema):
    id = Text(required=True)
    status = Text(required=True)
    total = ma.fields.Nested(MoneySchema, required=True)
    period_start = ma.fields.AwareDateTime(required=True)
    period_end = ma.fields.AwareDateTime(required=True)
    stripe_invoice_id = Text(allow_none=True, required=True)
    hosted_invoice_url = Text(allow_none=True, required=True)
    hold_reason = Text(
        allow_none=True,
        required=True,
        metadata={
            "description": "why a `held` invoice was kept from Stripe: `amount_too_large` (over "
            "Stripe's maximum amount, 99,999,999 minor units)"
        },
    )
    created_at = ma.fields.AwareDateTime(required=True)
    lines = ma.fields.List(ma.fields.Nested(LineSchema), required=True)


class SpendCapSchema(ma.Schema):
    cap = ma.fields.Nested(MoneySchema, allow_none=True, required=True)
    spent = ma.fields.Nested(
        MoneySchema, required=True, metadata={"description": "metered voice charge this period"}
    )
    spent_words = ma.fields.Integer(allow_none=True, required=True)
    resets_at = ma.fields.AwareDateTime(required=True)
    reached_at = ma.fields.AwareDateTime(
        allow_none=True, required=True, metadata={"description": "when it first refused"}
    )
