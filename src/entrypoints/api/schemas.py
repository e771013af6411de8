"""Marshmallow schemas: only at the HTTP edge."""

from __future__ import annotations

import marshmallow as ma


class MoneySchema(ma.Schema):
    amount_minor = ma.fields.Integer(required=True, metadata={"description": "Minor units (cents)"})
    currency = ma.fields.String(required=True, metadata={"example": "usd"})
    display = ma.fields.String(required=True, metadata={"example": "29.00 USD"})


class QuotaSchema(ma.Schema):
    limit = ma.fields.Integer(allow_none=True, required=True,
                              metadata={"description": "null means unlimited"})
    unlimited = ma.fields.Boolean(required=True)
    kind = ma.fields.String(required=True, metadata={"description": "counter (per billing "
                                                     "period) or gauge (what exists now)"})


class PlanSchema(ma.Schema):
    tier = ma.fields.String(required=True, metadata={"example": "starter"})
    name = ma.fields.String(required=True)
    aliases = ma.fields.List(ma.fields.String(), required=True)
    price = ma.fields.Nested(MoneySchema, required=True)
    interval = ma.fields.String(required=True, metadata={"description": "month or one_time"})
    quotas = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(QuotaSchema),
                            required=True)
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
    plan_source = ma.fields.String(required=True, metadata={
        "description": "default, subscription, grace_period or purchase"})
    status = ma.fields.String(required=True, metadata={
        "description": "the subscription's Stripe status, or none"})
    subscription = ma.fields.Nested(SubscriptionSchema, allow_none=True, required=True)
    has_stripe_customer = ma.fields.Boolean(required=True)


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Boolean())
