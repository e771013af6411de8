"""Platform admins: the job queues as RQ's own registries see them (depth, the oldest waiting
job's age, running, scheduled retries, failed jobs), per queue of urgency."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import redis
from flask.views import MethodView

from entrypoints.api.auth import OPERATE, requires
from entrypoints.api.blueprint import Blueprint, abort
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text
from entrypoints.bootstrap import queue_report

blp = Blueprint(
    "admin_queues",
    __name__,
    url_prefix="/api/v1/admin/queues",
    description="Platform admins: the job queues.",
)


class FailureSchema(ma.Schema):
    id = Text(required=True)
    function = Text(allow_none=True, required=True)
    ended_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    error = ma.fields.List(Text(), required=True)


class QueueSchema(ma.Schema):
    kind = Text(required=True, metadata={"description": "urgent, webhooks or bulk"})
    name = Text(required=True)
    depth = ma.fields.Integer(required=True)
    oldest_age_s = ma.fields.Float(allow_none=True, required=True)
    started = ma.fields.Integer(required=True)
    scheduled = ma.fields.Integer(required=True)
    failed = ma.fields.Integer(required=True)
    recent_failures = ma.fields.List(ma.fields.Nested(FailureSchema), required=True)
    workers = ma.fields.Integer(required=True)


class QueueListSchema(ma.Schema):
    queues = ma.fields.List(ma.fields.Nested(QueueSchema), required=True)


@blp.route("")
class Queues(MethodView):
    @requires(*OPERATE)
    @blp.response(200, QueueListSchema)
    @errors(blp, 401, 403, 503)
    def get(self) -> dict[str, Any]:
        """Each queue's depth, the age of its oldest waiting job, jobs running, retries waiting
        in RQ's scheduled registry, failed jobs with the newest 20 failures, and its workers."""
        current = container()
        try:
            return {"queues": queue_report(current)}
        except redis.RedisError:
            abort(503, message="the queues cannot be read: Redis is unreachable")
