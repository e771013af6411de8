"""GET/PUT /api/v1/alerts: usage alert thresholds per metric, and what fired."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from domain.errors import AlertThresholdInvalid, QuotaUnavailable
from domain.model.alerts import AlertThreshold, ThresholdKind
from domain.model.plans import Metric
from domain.services.alert_events import alert_object
from domain.services.alerts import AlertsView, get_alerts, set_alerts
from entrypoints.api.auth import CHANGE_BILLING, READ_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text

blp = Blueprint(
    "alerts",
    __name__,
    url_prefix="/api/v1/alerts",
    description="Usage alerts: thresholds per metric that fire once per period and resolve.",
)


class ThresholdInput(ma.Schema):
    metric = Text(required=True, validate=ma.validate.OneOf([m.value for m in Metric]))
    percent = ma.fields.Integer(
        strict=True, load_default=None, metadata={"description": "1 to 100, of the plan's limit"}
    )
    amount = ma.fields.Integer(
        strict=True, load_default=None, metadata={"description": "an absolute number of units"}
    )

    @ma.validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("percent") is None) == (data.get("amount") is None):
            raise ma.ValidationError("give either `percent` or `amount`", "percent")


class AlertsRequest(ma.Schema):
    thresholds = ma.fields.List(
        ma.fields.Nested(ThresholdInput),
        required=True,
        allow_none=True,
        metadata={"description": "null: the plan's defaults (80% and 100% of each limit)"},
    )


class ThresholdSchema(ma.Schema):
    id = Text(required=True, metadata={"example": "percent:80"})
    metric = Text(required=True)
    percent = ma.fields.Integer(allow_none=True, required=True)
    amount = ma.fields.Integer(allow_none=True, required=True)
    level = ma.fields.Integer(
        allow_none=True,
        required=True,
        metadata={
            "description": "the usage at which it fires; null for a percent of an unlimited metric"
        },
    )
    limit = ma.fields.Integer(allow_none=True, required=True)
    state = Text(
        required=True,
        metadata={"description": "pending (not reached), fired or resolved (latest firing)"},
    )
    fired_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    resolved_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    period_start = ma.fields.AwareDateTime(
        allow_none=True, required=True, metadata={"description": "of the latest firing"}
    )


class AlertsSchema(ma.Schema):
    defaults = ma.fields.Boolean(required=True)
    period_start = ma.fields.AwareDateTime(required=True)
    period_end = ma.fields.AwareDateTime(required=True)
    thresholds = ma.fields.List(ma.fields.Nested(ThresholdSchema), required=True)


def present(view: AlertsView) -> dict[str, Any]:
    rows = []
    for item in view.thresholds:
        t, state = item.threshold, item.state
        fired = alert_object(state) if state else {}
        rows.append(
            {
                "id": t.id,
                "metric": t.metric.value,
                "percent": t.value if t.kind is ThresholdKind.PERCENT else None,
                "amount": t.value if t.kind is ThresholdKind.AMOUNT else None,
                "level": item.level,
                "limit": item.limit,
                "state": fired.get("state", "pending"),
                "fired_at": fired.get("fired_at"),
                "resolved_at": fired.get("resolved_at"),
                "period_start": fired.get("period_start"),
            }
        )
    return {
        "defaults": view.defaults,
        "period_start": view.period_start,
        "period_end": view.period_end,
        "thresholds": rows,
    }


def _threshold(raw: dict[str, Any]) -> AlertThreshold:
    if raw["percent"] is not None:
        return AlertThreshold(Metric(raw["metric"]), ThresholdKind.PERCENT, raw["percent"])
    return AlertThreshold(Metric(raw["metric"]), ThresholdKind.AMOUNT, raw["amount"])


@blp.route("")
class Alerts(MethodView):
    @requires(*READ_BILLING)
    @blp.response(200, AlertsSchema)
    @errors(blp, 401, 403, QuotaUnavailable)
    def get(self) -> dict[str, Any]:
        """Each threshold with the usage it fires at this period and its latest state: fired
        (once per period and level), resolved (a new period, or a bigger plan), or pending."""
        return present(get_alerts(container().quota, principal().org_id))

    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(AlertsRequest())
    @blp.response(200, AlertsSchema)
    @errors(blp, 401, 403, 413, 415, 422, AlertThresholdInvalid, QuotaUnavailable)
    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the thresholds (all or nothing): a percent (1 to 100) of a metric the plan
        limits, or an absolute amount (1 to 2^53 - 1) of any metric; `null` restores the
        defaults. The counter decides with them from the next consumption on."""
        raw = body["thresholds"]
        thresholds = None if raw is None else [_threshold(t) for t in raw]
        who = principal()
        return present(
            set_alerts(container().quota, who.org_id, thresholds, actor=f"user:{who.sub}")
        )
