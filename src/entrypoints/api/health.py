"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.errors import edge_error
from entrypoints.api.schemas import HealthSchema

blp = Blueprint("health", __name__, description="Liveness and readiness probes.")


@blp.route("/healthz")
class Alive(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """The process is up (touches nothing else)."""
        return {"status": "alive"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    @errors(blp, "not_ready")
    def get(self) -> dict[str, Any] | Response:
        """The database and Redis answer."""
        checks = {name: probe.ping() for name, probe in container().probes.items()}
        if all(checks.values()):
            return {"status": "ready", "checks": checks}
        down = ", ".join(name for name, ok in checks.items() if not ok)
        return edge_error("not_ready", f"unreachable: {down}", checks=checks)
