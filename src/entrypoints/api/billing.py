"""GET /api/v1/billing/status: the caller's organization's plan and subscription."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from domain.services.billing_status import get_billing_status
from entrypoints.api import presenters
from entrypoints.api.auth import READ_BILLING, USE_QUOTA, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.schemas import BillingStatusSchema

blp = Blueprint(
    "billing",
    __name__,
    url_prefix="/api/v1/billing",
    description="The caller's organization: plan, subscription and payments.",
)


@blp.route("/status")
class BillingStatusView(MethodView):
    @requires(*READ_BILLING, *USE_QUOTA)
    @blp.response(200, BillingStatusSchema)
    @errors(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """The organization's plan (free by default) and subscription status."""
        c = container()
        status = get_billing_status(
            c.uow, c.clock, c.catalog, principal().org_id, c.settings.grace_period
        )
        return presenters.billing_status(status)
