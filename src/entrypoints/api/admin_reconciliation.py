"""Platform admins: reconciliation runs (our books against Stripe's) and their drift rows."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from domain.errors import NotFound, PaymentsNotConfigured
from domain.model.reconciliation import Drift
from domain.services.reconciliation import latest_report, queue_run, run_report
from entrypoints.api.auth import OPERATE, principal, requires
from entrypoints.api.blueprint import Blueprint, abort
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text
from entrypoints.bootstrap import reconciliation

blp = Blueprint(
    "admin_reconciliation",
    __name__,
    url_prefix="/api/v1/admin/reconciliation",
    description="Platform admins: reconciliation of our books with Stripe's.",
)

ORG_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class ReconciliationRunRequest(ma.Schema):
    org_id = Text(
        load_default=None,
        validate=ma.validate.Regexp(ORG_ID),
        metadata={"description": "only this organization (default: every one)"},
    )
    fix = ma.fields.Boolean(load_default=False, metadata={"description": "repair what Stripe owns"})


class ReconciliationReportQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=200, validate=ma.validate.Range(min=1, max=1000))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=1_000_000))


class ReconciliationCountsSchema(ma.Schema):
    objects_compared = ma.fields.Integer(required=True)
    drifts = ma.fields.Integer(required=True)
    new_drifts = ma.fields.Integer(required=True)
    repaired = ma.fields.Integer(required=True)
    reported = ma.fields.Integer(required=True)
    events_listed = ma.fields.Integer(required=True)
    events_recovered = ma.fields.Integer(required=True)
    other_api_version_events = ma.fields.Integer(required=True)


class ReconciliationRunSchema(ma.Schema):
    id = Text(required=True)
    status = Text(required=True, metadata={"description": "queued, running, finished, failed"})
    org_id = Text(allow_none=True, required=True)
    fix = ma.fields.Boolean(required=True)
    actor = Text(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    started_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    events_since = ma.fields.AwareDateTime(allow_none=True, required=True)
    error = Text(allow_none=True, required=True)
    counts = ma.fields.Nested(ReconciliationCountsSchema, required=True)


class DriftRowSchema(ma.Schema):
    org_id = Text(allow_none=True, required=True)
    object_type = Text(required=True)
    object_id = Text(required=True)
    kind = Text(required=True)
    ours = Text(allow_none=True, required=True)
    stripe = Text(allow_none=True, required=True)
    first_seen_at = ma.fields.AwareDateTime(required=True)
    new = ma.fields.Boolean(required=True)
    action = Text(
        required=True,
        metadata={"description": "repaired, reported, would_repair or repair_failed"},
    )
    repaired_through = Text(allow_none=True, required=True)
    note = Text(allow_none=True, required=True)


class ReconciliationReportSchema(ma.Schema):
    run = ma.fields.Nested(ReconciliationRunSchema, required=True)
    drifts = ma.fields.List(ma.fields.Nested(DriftRowSchema), required=True)


class LatestReconciliationSchema(ma.Schema):
    run = ma.fields.Nested(ReconciliationRunSchema, allow_none=True, required=True)
    drifts = ma.fields.List(ma.fields.Nested(DriftRowSchema), required=True)


def _drift(drift: Drift) -> dict[str, Any]:
    return {
        "org_id": drift.org_id,
        "object_type": drift.object_type.value,
        "object_id": drift.object_id,
        "kind": drift.kind.value,
        "ours": drift.ours,
        "stripe": drift.theirs,
        "first_seen_at": drift.first_seen_at,
        "new": drift.new,
        "action": drift.action.value,
        "repaired_through": drift.repair.event_type if drift.repair else None,
        "note": drift.note,
    }


@blp.route("/runs")
class Runs(MethodView):
    @requires(*OPERATE)
    @blp.arguments(ReconciliationRunRequest())
    @blp.response(202, ReconciliationRunSchema)
    @errors(blp, 401, 403, 422, PaymentsNotConfigured)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue a run on the reconciliation queue: every organization (or `org_id`), repairing
        what Stripe owns with `fix`. Answers the queued run; GET it for the report."""
        deps = reconciliation(container())
        deps.payments.require_gateway()
        run = queue_run(
            deps, org_id=body["org_id"], fix=body["fix"], actor=f"user:{principal().sub}"
        )
        return run.plain()


@blp.route("/runs/latest")
class LatestRun(MethodView):
    @requires(*OPERATE)
    @blp.arguments(ReconciliationReportQuery(), location="query")
    @blp.response(200, LatestReconciliationSchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The newest run (null before the first) with its drift rows."""
        found = latest_report(reconciliation(container()), args["limit"])
        if found is None:
            return {"run": None, "drifts": []}
        run, drifts = found
        return {"run": run.plain(), "drifts": [_drift(d) for d in drifts]}


@blp.route("/runs/<run_id>")
class RunDetail(MethodView):
    @requires(*OPERATE)
    @blp.arguments(ReconciliationReportQuery(), location="query")
    @blp.response(200, ReconciliationReportSchema)
    @errors(blp, 401, 403, 404, 422)
    def get(self, args: dict[str, Any], run_id: str) -> dict[str, Any]:
        """The run's counts and its drift rows: organization, object, kind, our value,
        Stripe's, when first seen, and the action taken."""
        try:
            run, drifts = run_report(
                reconciliation(container()), run_id, args["limit"], args["offset"]
            )
        except NotFound:
            abort(404, message=f"no reconciliation run {run_id!r}")
        return {"run": run.plain(), "drifts": [_drift(d) for d in drifts]}
