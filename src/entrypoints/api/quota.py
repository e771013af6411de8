"""POST /api/v1/quota/consume and /release: check-and-consume on every request the product
serves, and give gauge units back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView

from domain.errors import NotAGauge, QuotaUnavailable, SpendCapReached
from domain.model.plans import Metric
from domain.model.quotas import QuotaDecision
from domain.services.alerts import spend_cap_refusal
from domain.services.quotas import consume_quota, flush_ledger, release_quota
from entrypoints import metrics
from entrypoints.api import presenters
from entrypoints.api.auth import USE_QUOTA, principal, requires
from entrypoints.api.blueprint import Blueprint, documented
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.errors import rate_limit_headers
from entrypoints.api.fields import Text
from entrypoints.api.quota_body import SCHEMA, consume_request
from entrypoints.api.schemas import QuotaDecisionSchema

Headers = list[tuple[str, str]]
# The outcome of a consumption the fast lane made (quota_lane.py) and handed on to this view to
# answer (a decision, or the error it raised): a request is consumed once. Not a header: a caller
# cannot set it.
CONSUMED = "billing.quota_consumed"

blp = Blueprint(
    "quota",
    __name__,
    url_prefix="/api/v1/quota",
    description="Per-plan quotas: check and consume atomically, release gauges.",
)


class ReleaseRequest(ma.Schema):
    metric = Text(required=True, validate=ma.validate.OneOf(["documents"]))
    amount = ma.fields.Integer(
        required=True, strict=True, validate=ma.validate.Range(min=1, max=2**53 - 1)
    )


class QuotaExceededSchema(QuotaDecisionSchema):
    code = Text(required=True, metadata={"example": "quota_exceeded"})
    message = Text(required=True)
    status = ma.fields.Integer(required=True)


def decision_response(decision: QuotaDecision) -> Response:
    """200 within quota, with RateLimit-* headers when limited; over it, `quota_exceeded`."""
    if not decision.allowed:
        raise decision.refusal()
    status, headers, data = decision_answer(decision, container().clock.now())
    return Response(data, status=status, headers=headers)


def decision_answer(decision: QuotaDecision, now: datetime) -> tuple[int, Headers, bytes]:
    """Status, headers and body bytes of an allowed decision (the fast lane writes them too)."""
    body = presenters.quota_decision(decision)
    body["resets_at"] = decision.resets_at.isoformat() if decision.resets_at else None
    # The bytes jsonify writes (sorted keys, compact, a newline), for a body of plain values.
    data = (_encode(body) + "\n").encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if decision.limit is not None:
        limited = rate_limit_headers(
            decision.limit, decision.remaining, decision.resets_at, refused=False, now=now
        )
        headers.extend(limited.items())
    return 200, headers, data


_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


@blp.route("/consume")
class Consume(MethodView):
    # Every request a product serves calls this: the body is read by consume_request and the
    # answer built by decision_response, the decorators only document them. Its plain case is
    # answered before Flask by quota_lane.py, with the same reading and the same answer.
    @requires(*USE_QUOTA, limit="metered")
    @documented(
        blp.arguments(SCHEMA),
        blp.response(200, QuotaDecisionSchema, description="Within quota: consumed"),
        blp.alt_response(
            429,
            schema=QuotaExceededSchema,
            description="Over quota: `quota_exceeded`, nothing consumed; with "
            "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset and "
            "Retry-After headers",
        ),
        errors(blp, 401, 403, 413, 415, 422, NotAGauge, SpendCapReached, QuotaUnavailable),
    )
    def post(self) -> Response:
        """Check and consume in one atomic step (a Lua script in Redis: concurrent callers never
        push usage past the limit). A repeated `idempotency_key` is answered, not counted again.
        Unlimited plans never refuse. A voice consumption that would take the period's metered
        charge past the owner's spend cap answers 429 `spend_cap_reached`. If the counter is
        unreachable the answer comes within ~100 ms: 503 `quota_unavailable`, or allowed when
        `QUOTA_FAIL_OPEN=true`."""
        body = consume_request(request)
        c = container()
        org_id = principal().org_id
        metric = Metric(body["metric"])
        try:
            handed = request.environ.pop(CONSUMED, None)
            if isinstance(handed, Exception):  # the fast lane's consumption failed
                raise handed
            decision = handed or consume_quota(
                c.quota, org_id, metric, body["amount"], body["idempotency_key"]
            )
        except QuotaUnavailable:
            metrics.count_quota_unavailable("consume", metric)
            raise
        if c.settings.embedded and not decision.degraded:  # no worker runs embedded: flush now
            flush_ledger(c.quota)
        metrics.count_quota("consume", decision)
        if decision.capped:
            raise spend_cap_refusal(c.quota, org_id, decision)
        return decision_response(decision)


@blp.route("/release")
class Release(MethodView):
    @requires(*USE_QUOTA, limit="metered")
    @blp.arguments(ReleaseRequest())
    @blp.response(200, QuotaDecisionSchema)
    @errors(blp, 401, 403, 413, 415, 422, NotAGauge, QuotaUnavailable)
    def post(self, body: dict[str, Any]) -> Response:
        """Give back gauge units (a document was deleted). Never below zero."""
        decision = release_quota(
            container().quota, principal().org_id, Metric(body["metric"]), body["amount"]
        )
        metrics.count_quota("release", decision)
        return decision_response(decision)
