"""GET /api/v1/plans: the public catalog."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from entrypoints.api import presenters
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.schemas import PlanListSchema

blp = Blueprint(
    "plans",
    __name__,
    url_prefix="/api/v1/plans",
    description="The plan catalog: prices, quotas and features.",
)


@blp.route("")
class Plans(MethodView):
    @blp.doc(security=[])
    @blp.response(200, PlanListSchema)
    def get(self) -> dict[str, Any]:
        """List the plans on sale (public: no token needed)."""
        catalog = container().catalog
        return {
            "plans": [presenters.plan(p) for p in catalog.plans()],
            "default_tier": catalog.default_tier.value,
        }
