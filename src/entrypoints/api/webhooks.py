"""POST /api/v1/billing/webhook: Stripe's deliveries, verified, stored once, queued."""

from __future__ import annotations

import json
import logging
from typing import Any

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView

from domain.errors import (
    DomainError,
    WebhookMalformed,
    WebhookSignatureInvalid,
    WebhookSignatureMissing,
    WebhookTimestampOutOfTolerance,
)
from domain.services.webhook_intake import UnitOfWorkIntake, intake_stripe_event
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.errors import edge_error
from entrypoints.api.security import security_event

log = logging.getLogger(__name__)
JSON = "application/json"

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/billing/webhook",
    description="Stripe webhook deliveries.",
)

# A delivery that does not prove it comes from Stripe: a security event, not just a bad body.
FORGED = (WebhookSignatureMissing, WebhookSignatureInvalid, WebhookTimestampOutOfTolerance)
INTAKE_ERRORS = (
    WebhookSignatureMissing,
    WebhookSignatureInvalid,
    WebhookTimestampOutOfTolerance,
    WebhookMalformed,
    413,
    415,
    "webhook_store_unavailable",
)


class WebhookAckSchema(ma.Schema):
    received = ma.fields.Boolean(required=True)
    event_id = ma.fields.String(required=True)
    duplicate = ma.fields.Boolean(
        required=True,
        metadata={"description": "true when the event was already stored (a redelivery)"},
    )


WEBHOOK_DOC = {
    "security": [],
    "requestBody": {
        "required": True,
        "description": "A Stripe event, exactly as Stripe sent it "
        "(the signature covers the raw bytes)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "parameters": [
        {
            "in": "header",
            "name": "Stripe-Signature",
            "required": True,
            "schema": {"type": "string"},
            "description": "t=<unix>,v1=<hmac>",
        }
    ],
}


@blp.route("", legacy="/api/billing/webhook")
class StripeWebhook(MethodView):
    @blp.doc(**WEBHOOK_DOC)
    @blp.response(200, WebhookAckSchema)
    @errors(blp, *INTAKE_ERRORS)
    def post(self) -> dict[str, Any] | Response:
        """Receive a Stripe event: verify its signature (300 s tolerance both ways, any of the
        configured secrets), store it once by event id, enqueue it when new, answer 200 for new
        and repeated events alike. 503 when it cannot be stored, so Stripe retries."""
        c = container()
        settings = c.settings
        payload = request.get_data(cache=False)
        verify = settings.verify_webhooks
        if not verify:
            log.warning("webhook signature verification is OFF (APP_ENV=development)")
        try:
            receipt = intake_stripe_event(
                c.intake or UnitOfWorkIntake(c.intake_uow),
                c.jobs,
                c.clock,
                payload,
                request.headers.get("Stripe-Signature"),
                settings.webhook_secrets,
                verify=verify,
            )
        except DomainError as exc:
            if isinstance(exc, FORGED):
                security_event("signature_failed", code=exc.code)
            raise
        except Exception:
            log.exception("webhook could not be stored; Stripe will retry")
            return edge_error(
                "webhook_store_unavailable", "the event could not be stored; retry later"
            )
        log.info(
            "stripe webhook received",
            extra={
                "event_id": receipt.event_id,
                "event_type": receipt.type,
                "duplicate": receipt.duplicate,
                "enqueued": receipt.enqueued,
            },
        )
        # Written out, not dumped through the schema: the same JSON as jsonify's, for less.
        ack = {"duplicate": receipt.duplicate, "event_id": receipt.event_id, "received": True}
        return Response(json.dumps(ack, separators=(",", ":")) + "\n", mimetype=JSON)
