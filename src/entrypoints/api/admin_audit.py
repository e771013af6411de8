"""Platform admins: the audit trail (billing changes and security events), newest first."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from entrypoints.api import presenters
from entrypoints.api.auth import OPERATE, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text

blp = Blueprint(
    "admin_audit",
    __name__,
    url_prefix="/api/v1/admin/audit",
    description="Platform admins: billing changes and security events.",
)


class AuditQuery(ma.Schema):
    org_id = Text(
        required=True,
        validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "`-` for events without one (e.g. failed authentication)"},
    )
    action = Text(
        load_default=None,
        validate=ma.validate.Length(max=64),
        metadata={"description": "a prefix, e.g. `security.`"},
    )
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class AuditEntrySchema(ma.Schema):
    at = ma.fields.AwareDateTime(required=True)
    org_id = Text(required=True)
    actor = Text(required=True)
    action = Text(required=True)
    details = ma.fields.Dict(required=True)


class AuditListSchema(ma.Schema):
    entries = ma.fields.List(ma.fields.Nested(AuditEntrySchema), required=True)


@blp.route("")
class Audit(MethodView):
    @requires(*OPERATE)
    @blp.arguments(AuditQuery(), location="query")
    @blp.response(200, AuditListSchema)
    @errors(blp, 401, 403, 422)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """An organization's audit entries: `security.*` events (auth_failed, role_refused,
        cross_tenant, signature_failed, rate_limited) and billing changes with their cause."""
        with container().uow() as uow:
            entries = uow.audit.for_org(args["org_id"], 10_000 if args["action"] else args["limit"])
        if args["action"]:
            entries = [e for e in entries if e.action.startswith(args["action"])][: args["limit"]]
        return {"entries": [presenters.audit_entry(e) for e in entries]}
