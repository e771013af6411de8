"""The Flask app factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, request
from flask_swagger_ui import get_swaggerui_blueprint
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.middleware.proxy_fix import ProxyFix

from entrypoints import logs
from entrypoints.api import (
    admin_audit,
    admin_queues,
    admin_reconciliation,
    admin_webhooks,
    alerts,
    analytics,
    billing,
    billing_quota,
    checkout,
    customer,
    dashboard,
    generate_usage_invoice,
    health,
    invoices,
    limits,
    metrics,
    plans,
    portal,
    quota,
    quota_lane,
    replica_reads,
    security,
    spend_cap,
    subscriptions,
    usage,
    webhook_endpoints,
    webhooks,
    white_label,
)
from entrypoints.api.auth import configure_jwt, register_auth_errors
from entrypoints.api.blueprint import LEGACY
from entrypoints.api.errors import BillingApi, register_error_handlers
from entrypoints.bootstrap import bootstrap
from entrypoints.config import Settings, load_settings
from entrypoints.web import pages

log = logging.getLogger(__name__)

API_TITLE = "Billing service"
API_DESCRIPTION = """Plans, Stripe checkout and subscriptions, per-plan quotas, metered usage and
usage invoices for SaaS products. Every error answers `{"code", "message", "status"}` with a stable
`code`. Authenticate with `Authorization: Bearer <JWT>` carrying `sub`, `org_id`, `role`, `exp`."""

BLUEPRINTS = (
    health.blp,
    plans.blp,
    billing.blp,
    customer.blp,
    subscriptions.blp,
    checkout.blp,
    white_label.blp,
    portal.blp,
    webhooks.blp,
    admin_webhooks.blp,
    quota.blp,
    billing_quota.blp,
    usage.blp,
    generate_usage_invoice.blp,
    invoices.blp,
    dashboard.blp,
    analytics.blp,
    admin_audit.blp,
    admin_queues.blp,
    admin_reconciliation.blp,
    alerts.blp,
    spend_cap.blp,
    webhook_endpoints.blp,
    LEGACY,
)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    settings = settings or load_settings()
    logs.configure(settings.log_level)
    container = bootstrap(settings, **overrides)
    app = Flask("billing", instance_path=str(settings.instance_path.resolve()))
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_content_length,
        API_TITLE=API_TITLE,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": API_DESCRIPTION},
            "security": [{"bearerAuth": []}],
        },
    )
    app.extensions["billing"] = container
    api = BillingApi(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    app.extensions["billing_api"] = api
    configure_jwt(app, container)
    register_error_handlers(app)
    register_auth_errors(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(
        get_swaggerui_blueprint("/api/docs", "/api/openapi.json", config={"app_name": API_TITLE})
    )
    if settings.trusted_proxies:
        # The client address (rate limits, security log) and https scheme come from the proxy.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    app.register_blueprint(pages)
    app.extensions["org_limits"] = limits.configure(app, settings)
    security.install(app)
    app.before_request(_enforce_body_rules)
    metrics.install(app)
    replica_reads.install(app)
    quota_lane.install(app)  # last: the outermost WSGI layer
    if not settings.verify_webhooks:
        log.warning(
            "STRIPE_WEBHOOK_VERIFY=false: webhook signatures are NOT verified (development only)"
        )
    from entrypoints.cli import billing_cli  # the CLI imports the app factory's modules

    app.cli.add_command(billing_cli)
    return app


def _enforce_body_rules() -> None:
    """413 for declared oversize bodies before reading them; 415 for bodies that are not JSON."""
    if request.method not in BODY_METHODS:
        return
    max_length = request.max_content_length
    if max_length is not None and (request.content_length or 0) > max_length:
        raise RequestEntityTooLarge(f"the body is larger than {max_length} bytes")
    has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding")
    if has_body and request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
