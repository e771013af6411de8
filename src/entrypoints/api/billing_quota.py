"""GET /api/v1/billing/quota: the organization's quota in the current period."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from domain.errors import QuotaUnavailable
from domain.services.quotas import quota_status
from entrypoints.api import presenters
from entrypoints.api.auth import READ_BILLING, USE_QUOTA, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text
from entrypoints.api.schemas import QuotaDecisionSchema

blp = Blueprint(
    "billing_quota",
    __name__,
    url_prefix="/api/v1/billing/quota",
    description="The organization's quota: used, limit and reset per metric.",
)


class QuotaListSchema(ma.Schema):
    plan = Text(required=True)
    period_start = ma.fields.AwareDateTime(required=True)
    period_end = ma.fields.AwareDateTime(
        required=True, metadata={"description": "counters reset here (half-open period)"}
    )
    metrics = ma.fields.List(ma.fields.Nested(QuotaDecisionSchema), required=True)


@blp.route("")
class QuotaStatus(MethodView):
    @requires(*READ_BILLING, *USE_QUOTA)
    @blp.response(200, QuotaListSchema)
    @errors(blp, 401, 403, QuotaUnavailable)
    def get(self) -> dict[str, Any]:
        """Each metric's used, limit, remaining and reset time in the current period."""
        report = quota_status(container().quota, principal().org_id)
        return {
            "plan": report.window.tier,
            "period_start": report.window.period_start,
            "period_end": report.window.period_end,
            "metrics": [presenters.quota_decision(d) for d in report.decisions],
        }
