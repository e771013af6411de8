"""`GET /metrics`: the Prometheus exposition, for scrapers at `METRICS_ALLOWED_IPS` or with a
platform_admin token; and the request hooks that time every request by its URL rule."""

from __future__ import annotations

import ipaddress
import time

from flask import Blueprint, Flask, Response, g, request

from entrypoints import metrics
from entrypoints.api.auth import OPERATE, authenticate
from entrypoints.api.container import container
from entrypoints.api.errors import edge_error
from entrypoints.bootstrap import state_reader

blp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "<unmatched>"  # a 404 or 405: one label value, never the raw path
STARTED = "billing.started"  # when a request handed on by the quota fast lane reached it


@blp.get("/metrics")
def scrape() -> Response:
    if not _allowed_address():
        if not request.headers.get("Authorization"):
            return edge_error(
                "metrics_forbidden",
                "scrape from an address in METRICS_ALLOWED_IPS or with a platform_admin token",
            )
        authenticate(OPERATE)  # 401 for a bad token, 403 forbidden_role for another role
    current = container()
    state = metrics.StateCollector(state_reader(current))
    body = metrics.exposition(state, current.settings.prometheus_multiproc_dir)
    return Response(body, status=200, content_type=CONTENT_TYPE)


def _allowed_address() -> bool:
    networks = container().settings.metrics_networks
    if not networks or not request.remote_addr:
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr)
    except ValueError:
        return False
    return any(address in network for network in networks)


def install(app: Flask) -> None:
    app.register_blueprint(blp)
    # First of the hooks: a request another hook answers (413, 415, 429) is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_observe)


def _start_timer() -> None:
    g.metrics_started = request.environ.get(STARTED) or time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.get("metrics_started")
    if started is not None:
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        metrics.observe_request(
            route, request.method, response.status_code, time.perf_counter() - started
        )
    return response
