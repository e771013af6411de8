"""Operator analytics (platform_admin): revenue, churn, conversion and usage, over any period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView

from domain.services import analytics
from domain.services.analytics import AnalyticsReader
from entrypoints.api.auth import OPERATE, requires
from entrypoints.api.blueprint import Blueprint, abort
from entrypoints.api.charts import line_chart
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text

blp = Blueprint(
    "analytics",
    __name__,
    url_prefix="/api/v1/admin/analytics",
    description="Platform admins: revenue analytics computed in SQL over the "
    "recorded history. " + (analytics.__doc__ or "").split("\n\n")[1],
)


MAX_DAYS_BY_INTERVAL = {"day": 400, "month": 3660}


class PeriodQuery(ma.Schema):
    start = ma.fields.AwareDateTime(
        data_key="from", load_default=None, metadata={"description": "default: 90 days before `to`"}
    )
    end = ma.fields.AwareDateTime(
        data_key="to", load_default=None, metadata={"description": "default: now"}
    )
    interval = Text(load_default="month", validate=ma.validate.OneOf(["day", "month"]))
    top = ma.fields.Integer(load_default=10, validate=ma.validate.Range(min=1, max=100))

    @ma.validates_schema
    def _bounded(self, data: dict[str, Any], **_: Any) -> None:
        """A period is at most 400 days by day and 10 years by month: every bucket is a few
        queries, and an unbounded period would let one request run for hours."""
        start, end = data.get("start"), data.get("end")
        if start and end and start >= end:
            raise ma.ValidationError("`from` must be before `to`", "from")
        reference = end or datetime.now(UTC)
        span = reference - (start or reference - timedelta(days=90))
        longest = MAX_DAYS_BY_INTERVAL[data.get("interval", "month")]
        if span > timedelta(days=longest):
            raise ma.ValidationError(f"at most {longest} days by {data.get('interval')}", "from")


class ReportSchema(ma.Schema):
    start = ma.fields.AwareDateTime(data_key="from", required=True)
    end = ma.fields.AwareDateTime(data_key="to", required=True)
    report = ma.fields.Dict(required=True)


def _reader() -> AnalyticsReader:
    reader = container().analytics
    if reader is None:
        abort(503, message="analytics need the database", code="service_unavailable")
    assert reader is not None
    return reader


def _period(args: dict[str, Any]) -> tuple[Any, Any]:
    end = args["end"] or container().clock.now()
    return args["start"] or end - timedelta(days=90), end


def _report(args: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    start, end = _period(args)
    return {"start": start, "end": end, "report": report}


@blp.route("/revenue")
class Revenue(MethodView):
    @requires(*OPERATE)
    @blp.arguments(PeriodQuery(), location="query")
    @blp.response(200, ReportSchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """MRR (sum of monthly amounts of subscriptions active or past due at `to`) and ARR
        (12 x MRR) by plan; usage revenue (usage invoices created in the period, not void);
        one-time revenue (white-label purchases paid in the period); ARPU = MRR / paying
        organizations at `to`; and their series per `interval` (MRR at each bucket's end)."""
        start, end = _period(args)
        return _report(args, analytics.revenue(_reader(), start, end, args["interval"]))


@blp.route("/churn")
class Churn(MethodView):
    @requires(*OPERATE)
    @blp.arguments(PeriodQuery(), location="query")
    @blp.response(200, ReportSchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Per plan: logo churn = organizations paying on it at `from` and paying for nothing
        at `to` / those paying on it at `from`; revenue churn = their MRR at `from` / the plan's
        MRR at `from`. CLV = ARPU / monthly logo churn (period churn x 30 / period days)."""
        start, end = _period(args)
        return _report(args, analytics.churn(_reader(), start, end))


@blp.route("/conversion")
class Conversion(MethodView):
    @requires(*OPERATE)
    @blp.arguments(PeriodQuery(), location="query")
    @blp.response(200, ReportSchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Checkout completion by plan (sessions created in the period that completed /
        created); free to paid (organizations created in the period that paid before `to` /
        created); upgrade and downgrade rates (moves to a higher or lower monthly amount in the
        period / paying subscriptions at `from`)."""
        start, end = _period(args)
        return _report(args, analytics.conversion(_reader(), start, end))


@blp.route("/usage")
class Usage(MethodView):
    @requires(*OPERATE)
    @blp.arguments(PeriodQuery(), location="query")
    @blp.response(200, ReportSchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Queries per workspace (top N), queries by hour of day and ISO day of week (UTC,
        peak times), and quota utilization per plan: the share of organizations whose queries
        in the period reach 50, 80 and 100% of the limit of the plan they have at `to`."""
        start, end = _period(args)
        return _report(
            args, analytics.usage(_reader(), container().catalog, start, end, args["top"])
        )


CHARTS = {"mrr": ("MRR", "mrr_minor"), "usage-revenue": ("Usage revenue", "usage_revenue_minor")}


@blp.route("/charts/<name>.svg")
class Chart(MethodView):
    @requires(*OPERATE)
    @blp.arguments(PeriodQuery(), location="query")
    @blp.response(200, description="An SVG line chart", content_type="image/svg+xml")
    @errors(blp, 401, 403, 404, 422)
    def get(self, args: dict[str, Any], name: str) -> Response:
        """A server-rendered SVG chart of `mrr` or `usage-revenue` over the period."""
        if name not in CHARTS:
            abort(404, message=f"no chart {name!r}; charts: {', '.join(CHARTS)}")
        title, key = CHARTS[name]
        start, end = _period(args)
        series = analytics.revenue(_reader(), start, end, args["interval"])["series"]
        fmt = "%Y-%m-%d" if args["interval"] == "day" else "%Y-%m"
        svg = line_chart(
            title, [b["start"].strftime(fmt) for b in series], [b[key] / 100 for b in series]
        )
        return Response(svg, mimetype="image/svg+xml")
