"""The owner's webhook endpoints: where the product receives Standard Webhooks about billing
changes, with each endpoint's deliveries, secret rotation and replay."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from domain.errors import (
    InvalidWebhookEventType,
    NotFound,
    TooManyWebhookEndpoints,
    WebhookUrlRejected,
)
from domain.model.outbound import EVENT_TYPES
from domain.services import webhook_endpoints as endpoints
from entrypoints.api import presenters
from entrypoints.api.auth import CHANGE_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container, outbound
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text
from entrypoints.api.security import security_event

blp = Blueprint(
    "webhook_endpoints",
    __name__,
    url_prefix="/api/v1/webhook-endpoints",
    description="Webhooks to your product (Standard Webhooks): endpoints, deliveries, replay.",
)


class WebhookEndpointRequest(ma.Schema):
    url = Text(required=True, validate=ma.validate.Length(min=1, max=2000))
    event_types = ma.fields.List(
        Text(validate=ma.validate.Length(max=64)),
        validate=ma.validate.Length(max=len(EVENT_TYPES)),
        load_default=None,
        metadata={"description": "omitted or empty: every type; one of " + ", ".join(EVENT_TYPES)},
    )
    description = Text(load_default=None, validate=ma.validate.Length(max=500), allow_none=True)


class WebhookEndpointSchema(ma.Schema):
    id = Text(required=True)
    url = Text(required=True)
    description = Text(allow_none=True)
    event_types = ma.fields.List(Text(), required=True)
    enabled = ma.fields.Boolean(required=True)
    disabled_at = ma.fields.AwareDateTime(allow_none=True)
    disabled_reason = Text(allow_none=True)
    previous_secret_valid_until = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class WebhookEndpointWithSecretSchema(WebhookEndpointSchema):
    secret = Text(
        required=True,
        metadata={"description": "whsec_...: shown only now; verify signatures with it"},
    )


class WebhookEndpointListSchema(ma.Schema):
    endpoints = ma.fields.List(ma.fields.Nested(WebhookEndpointSchema), required=True)


class WebhookAttemptSchema(ma.Schema):
    number = ma.fields.Integer(required=True)
    attempted_at = ma.fields.AwareDateTime(required=True)
    status_code = ma.fields.Integer(allow_none=True)
    error = Text(allow_none=True)
    duration_ms = ma.fields.Integer(allow_none=True)
    response_snippet = Text(allow_none=True)


class WebhookDeliverySchema(ma.Schema):
    id = Text(required=True)
    message_id = Text(required=True, metadata={"description": "the webhook-id header"})
    event_type = Text(required=True)
    status = Text(required=True, metadata={"description": "pending, delivered or failed"})
    attempts = ma.fields.Integer(required=True)
    next_attempt_at = ma.fields.AwareDateTime(allow_none=True)
    last_status_code = ma.fields.Integer(allow_none=True)
    last_error = Text(allow_none=True)
    delivered_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    attempt_log = ma.fields.List(ma.fields.Nested(WebhookAttemptSchema), required=True)


class WebhookDeliveryListSchema(ma.Schema):
    deliveries = ma.fields.List(ma.fields.Nested(WebhookDeliverySchema), required=True)


class WebhookDeliveriesQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=100_000))


class WebhookReplayRequest(ma.Schema):
    since = ma.fields.AwareDateTime(required=True, metadata={"description": "ISO 8601 with zone"})


class WebhookReplaySchema(ma.Schema):
    replayed = ma.fields.Integer(required=True, metadata={"description": "deliveries queued"})
    endpoint = ma.fields.Nested(WebhookEndpointSchema, required=True)


def _actor() -> str:
    return f"user:{principal().sub}"


def _not_found(endpoint_id: str) -> None:
    """Another organization's endpoint answers exactly like a missing one (and is logged)."""
    with container().uow() as uow:
        if uow.webhook_endpoints.by_id(endpoint_id) is not None:
            security_event("cross_tenant", object="webhook_endpoint", object_id=endpoint_id)


def _owned(fn: Any, endpoint_id: str, *args: Any) -> Any:
    try:
        return fn(outbound(), principal().org_id, *args)
    except NotFound:
        _not_found(endpoint_id)
        raise


@blp.route("")
class WebhookEndpoints(MethodView):
    @requires(*CHANGE_BILLING)
    @blp.response(200, WebhookEndpointListSchema)
    @errors(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """The organization's endpoints, oldest first (secrets are never shown again)."""
        found = endpoints.list_endpoints(outbound(), principal().org_id)
        return {"endpoints": [presenters.webhook_endpoint(e) for e in found]}

    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(WebhookEndpointRequest())
    @blp.response(201, WebhookEndpointWithSecretSchema)
    @errors(
        blp,
        401,
        403,
        413,
        415,
        422,
        WebhookUrlRejected,
        InvalidWebhookEventType,
        TooManyWebhookEndpoints,
    )
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register an endpoint. The answer carries its `whsec_` secret, shown this once."""
        endpoint = endpoints.create_endpoint(
            outbound(),
            principal().org_id,
            _actor(),
            body["url"],
            body["event_types"],
            body["description"],
        )
        return presenters.webhook_endpoint(endpoint, with_secret=True)


@blp.route("/<endpoint_id>")
class WebhookEndpoint(MethodView):
    @requires(*CHANGE_BILLING)
    @blp.response(200, WebhookEndpointSchema)
    @errors(blp, 401, 403, NotFound)
    def get(self, endpoint_id: str) -> dict[str, Any]:
        """One endpoint; another organization's answers 404, like a missing one."""
        return presenters.webhook_endpoint(_owned(endpoints.get_endpoint, endpoint_id, endpoint_id))

    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.response(204)
    @errors(blp, 401, 403, NotFound)
    def delete(self, endpoint_id: str) -> None:
        """Remove the endpoint with its deliveries: nothing more is sent to it."""
        _owned(endpoints.delete_endpoint, endpoint_id, _actor(), endpoint_id)


@blp.route("/<endpoint_id>/rotate-secret")
class RotateSecret(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.response(200, WebhookEndpointWithSecretSchema)
    @errors(blp, 401, 403, NotFound)
    def post(self, endpoint_id: str) -> dict[str, Any]:
        """A new secret, shown this once; the old one keeps signing beside it for 24 hours
        (the signature header then carries both)."""
        endpoint = _owned(endpoints.rotate_secret, endpoint_id, _actor(), endpoint_id)
        return presenters.webhook_endpoint(endpoint, with_secret=True)


@blp.route("/<endpoint_id>/deliveries")
class Deliveries(MethodView):
    @requires(*CHANGE_BILLING)
    @blp.arguments(WebhookDeliveriesQuery(), location="query")
    @blp.response(200, WebhookDeliveryListSchema)
    @errors(blp, 401, 403, 422, NotFound)
    def get(self, args: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
        """The endpoint's deliveries, newest first, each with every attempt."""
        found = _owned(
            endpoints.endpoint_deliveries, endpoint_id, endpoint_id, args["limit"], args["offset"]
        )
        return {"deliveries": [presenters.webhook_delivery(v) for v in found]}


@blp.route("/<endpoint_id>/replay")
class Replay(MethodView):
    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(WebhookReplayRequest())
    @blp.response(202, WebhookReplaySchema)
    @errors(blp, 401, 403, 413, 415, 422, NotFound)
    def post(self, body: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
        """Enable the endpoint again (after a fix) and send it every message since `since`
        that it did not receive, each with the whole retry schedule."""
        endpoint, count = _owned(
            endpoints.replay, endpoint_id, _actor(), endpoint_id, body["since"]
        )
        return {"replayed": count, "endpoint": presenters.webhook_endpoint(endpoint)}
