"""Metered usage: ingest events (singly or in batches of up to 1,000) and summarize them."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import marshmallow as ma
from flask.views import MethodView

from domain.model.plans import Metric
from domain.ports import UnitOfWorkFactory
from domain.services.metering import (
    FUTURE_SKEW,
    MAX_BATCH,
    MAX_QUANTITY,
    UsageInput,
    record_usage,
)
from entrypoints import metrics
from entrypoints.api import presenters
from entrypoints.api.auth import READ_BILLING, USE_QUOTA, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text
from entrypoints.api.replica_reads import read_as_org

blp = Blueprint(
    "usage",
    __name__,
    url_prefix="/api/v1/usage",
    description="Metered usage (voice words and other metrics), billed per event once.",
)


class UsageEventSchema(ma.Schema):
    metric = Text(required=True, validate=ma.validate.OneOf([m.value for m in Metric]))
    quantity = ma.fields.Integer(
        required=True, strict=True, validate=ma.validate.Range(min=0, max=MAX_QUANTITY)
    )
    occurred_at = ma.fields.AwareDateTime(
        load_default=None,
        metadata={"description": "default: when received; at most 5 minutes ahead"},
    )
    idempotency_key = Text(
        required=True,
        validate=ma.validate.Length(min=1, max=255),
        metadata={"description": "unique per organization"},
    )
    conversation_id = Text(load_default=None, validate=ma.validate.Length(min=1, max=255))


class UsageBatchSchema(ma.Schema):
    events = ma.fields.List(
        ma.fields.Nested(UsageEventSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_BATCH),
    )

    @ma.pre_load
    def _single_event(self, data: Any, **_: Any) -> Any:
        """The older single-event body is taken as a batch of one."""
        if isinstance(data, dict) and "events" not in data and "metric" in data:
            return {"events": [data]}
        return data


class UsageReceiptSchema(ma.Schema):
    accepted = ma.fields.Integer(required=True, metadata={"description": "newly stored"})
    duplicates = ma.fields.Integer(
        required=True,
        metadata={
            "description": "keys already stored (or repeated in the batch): not stored again"
        },
    )


class SummaryQuery(ma.Schema):
    start = ma.fields.AwareDateTime(data_key="from", load_default=None)
    end = ma.fields.AwareDateTime(data_key="to", load_default=None)
    group_by = Text(
        load_default="day", validate=ma.validate.OneOf(["day", "metric", "conversation"])
    )

    @ma.validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("start") and data.get("end") and data["start"] >= data["end"]:
            raise ma.ValidationError("`from` must be before `to`", "from")


class UsageTotalSchema(ma.Schema):
    group = Text(required=True)
    metric = Text(required=True)
    quantity = ma.fields.Integer(required=True)
    events = ma.fields.Integer(required=True)


class UsageSummarySchema(ma.Schema):
    start = ma.fields.AwareDateTime(data_key="from", required=True)
    end = ma.fields.AwareDateTime(data_key="to", required=True)
    group_by = Text(required=True)
    totals = ma.fields.List(ma.fields.Nested(UsageTotalSchema), required=True)


@blp.route("/events")
class UsageEvents(MethodView):
    @requires(*USE_QUOTA, limit="metered")
    @blp.arguments(UsageBatchSchema())
    @blp.response(200, UsageReceiptSchema)
    @errors(blp, 401, 403, 413, 415, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Record 1 to 1,000 usage events, validated as a whole: a bad one (quantity not an
        integer in [0, 2^53), unknown metric, timestamp more than 5 minutes ahead) answers 422
        naming its index and field, and nothing is stored. Answers after the commit; a repeated
        idempotency key is counted in `duplicates` and stored once. Events for an already
        invoiced period are accepted and billed on the next usage invoice."""
        c = container()
        receipt = record_usage(
            c.quota,
            principal().org_id,
            [
                UsageInput(
                    Metric(e["metric"]),
                    e["quantity"],
                    e["idempotency_key"],
                    e["occurred_at"],
                    e["conversation_id"],
                )
                for e in body["events"]
            ],
        )
        metrics.count_usage(receipt.accepted, receipt.duplicates)
        return {"accepted": receipt.accepted, "duplicates": receipt.duplicates}


@blp.route("/summary")
class UsageSummary(MethodView):
    @requires(*READ_BILLING, *USE_QUOTA)
    @blp.arguments(SummaryQuery(), location="query")
    @blp.response(200, UsageSummarySchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Totals of metered usage in [from, to) (default: the last 30 days) by day, metric or
        conversation."""
        c = container()
        end = args["end"] or c.clock.now() + FUTURE_SKEW  # events may be stamped a bit ahead
        start = args["start"] or end - timedelta(days=30)
        org_id = principal().org_id

        def read(uow_factory: UnitOfWorkFactory) -> list[Any]:
            with uow_factory() as uow:
                return list(
                    uow.usage_events.summary(
                        org_id, start.astimezone(UTC), end.astimezone(UTC), args["group_by"]
                    )
                )

        totals = read_as_org("usage_summary", read)
        return {
            "start": start,
            "end": end,
            "group_by": args["group_by"],
            "totals": [presenters.usage_total(t) for t in totals],
        }
