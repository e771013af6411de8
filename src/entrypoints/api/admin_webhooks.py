"""Operators' view of the webhook inbox: list by status and type, inspect, replay."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from domain.model.webhooks import InboxStatus
from domain.services.stripe_events import replay_event
from entrypoints.api import presenters
from entrypoints.api.auth import OPERATE, requires
from entrypoints.api.blueprint import Blueprint, abort
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text

blp = Blueprint(
    "admin_webhooks",
    __name__,
    url_prefix="/api/v1/admin/webhook-events",
    description="Platform admins: the Stripe webhook inbox.",
)


class InboxQuerySchema(ma.Schema):
    status = Text(load_default=None, validate=ma.validate.OneOf([s.value for s in InboxStatus]))
    type = Text(load_default=None, validate=ma.validate.Length(max=100))
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=100_000))


class InboxEventSchema(ma.Schema):
    id = Text(required=True)
    type = Text(required=True)
    status = Text(required=True)
    attempts = ma.fields.Integer(required=True)
    last_error = Text(allow_none=True, required=True)
    received_at = ma.fields.AwareDateTime(required=True)
    processed_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    last_attempt_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    api_version = Text(allow_none=True, required=True)
    livemode = ma.fields.Boolean(required=True)


class InboxEventDetailSchema(InboxEventSchema):
    payload = ma.fields.Dict(required=True)


class InboxListSchema(ma.Schema):
    events = ma.fields.List(ma.fields.Nested(InboxEventSchema), required=True)


class ReplaySchema(ma.Schema):
    id = Text(required=True)
    status = Text(required=True)


@blp.route("")
class InboxList(MethodView):
    @requires(*OPERATE)
    @blp.arguments(InboxQuerySchema(), location="query")
    @blp.response(200, InboxListSchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Events newest first, filtered by status (pending, processed, ignored, parked, dead)
        and type."""
        status = InboxStatus(args["status"]) if args["status"] else None
        with container().uow() as uow:
            events = uow.inbox.search(status, args["type"], None, args["limit"], args["offset"])
        return {"events": [presenters.inbox_event(e) for e in events]}


@blp.route("/<event_id>")
class InboxDetail(MethodView):
    @requires(*OPERATE)
    @blp.response(200, InboxEventDetailSchema)
    @errors(blp, 401, 403, 404)
    def get(self, event_id: str) -> dict[str, Any]:
        """One event with its payload and last error."""
        with container().uow() as uow:
            event = uow.inbox.get(event_id)
        if event is None:
            abort(404, message=f"no webhook event {event_id!r}")
        return presenters.inbox_event(event, with_payload=True)


@blp.route("/<event_id>/replay")
class InboxReplay(MethodView):
    @requires(*OPERATE)
    @blp.response(202, ReplaySchema)
    @errors(blp, 401, 403, 404)
    def post(self, event_id: str) -> dict[str, Any]:
        """Put the event back in line and enqueue it (handlers are idempotent)."""
        c = container()
        if not replay_event(c.uow, c.jobs, event_id):
            abort(404, message=f"no webhook event {event_id!r}")
        return {"id": event_id, "status": InboxStatus.PENDING.value}
