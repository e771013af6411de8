"""Rate limiting on the quota counters' Redis (QUOTA_REDIS_URL, else REDIS_URL; `limits` reads a
`redis+cluster://` URL as a Redis Cluster, each counter being one key): per IP with
Flask-Limiter on every route (the webhook, health and the metered quota/usage paths excepted),
and per organization after authentication with the same `limits` library it is built on:
tighter on payment writes, none on metering unless configured (the quota limits it, and its
check stays one Redis round trip). The webhook route is limited by body size only: Stripe's
retries must never be refused by us. Over a limit: 429 `rate_limited` in the common error
shape, with Retry-After."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from entrypoints.api.errors import edge_error
from entrypoints.config import Settings

# Paths a product calls on every request it serves, or Stripe calls: no per-IP limit.
UNLIMITED_BY_IP = (
    "/api/v1/quota/",
    "/api/v1/usage/events",
    "/api/v1/billing/webhook",
    "/api/billing/webhook",
    "/healthz",
    "/readyz",
)
KINDS = {
    "org": "rate_limit_per_org",
    "sensitive": "rate_limit_sensitive",
    "metered": "rate_limit_metered",
}


class RateLimited(Exception):
    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(limit)
        self.limit, self.retry_after = limit, retry_after


class OrgLimits:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        uri = settings.quota_store_url or "memory://"
        options = (
            {}
            if settings.quota_store_url is None
            else {
                "socket_timeout": settings.redis_timeout_ms / 1000,
                "socket_connect_timeout": settings.redis_timeout_ms / 1000,
            }
        )
        self.limiter = FixedWindowRateLimiter(storage_from_string(uri, **options))

    def hit(self, kind: str, org_id: str) -> None:
        configured = getattr(self.settings, KINDS[kind])
        if not self.settings.rate_limit_enabled or not configured:
            return
        limit = parse(configured)
        try:
            allowed = self.limiter.hit(limit, "billing-limits", kind, org_id)
            if allowed:
                return
            reset = self.limiter.get_window_stats(limit, "billing-limits", kind, org_id).reset_time
        except Exception:  # noqa: BLE001 - an unreachable limiter store never blocks billing
            return
        raise RateLimited(str(limit), max(1, math.ceil(reset - time.time())))


def configure(app: Flask, settings: Settings) -> OrgLimits:
    timeout = settings.redis_timeout_ms / 1000
    app.config.update(
        RATELIMIT_ENABLED=settings.rate_limit_enabled,
        RATELIMIT_STORAGE_URI=settings.quota_store_url or "memory://",
        RATELIMIT_STORAGE_OPTIONS={"socket_timeout": timeout, "socket_connect_timeout": timeout}
        if settings.quota_store_url
        else {},
        RATELIMIT_KEY_PREFIX="billing-limits-ip",
        RATELIMIT_HEADER_RETRY_AFTER_VALUE="delta-seconds",
    )
    limiter = Limiter(
        get_remote_address,
        app=app,
        default_limits=[settings.rate_limit_per_ip],
        default_limits_exempt_when=lambda: request.path.startswith(UNLIMITED_BY_IP),
        strategy="fixed-window",
        headers_enabled=True,
        swallow_errors=True,
    )
    _skip_unlimited_paths(app, limiter)

    @app.errorhandler(RateLimited)
    def _limited(error: RateLimited) -> Response:
        response = edge_error(
            "rate_limited",
            f"too many requests for this organization ({error.limit}); "
            f"retry in {error.retry_after} s",
        )
        response.headers["Retry-After"] = str(error.retry_after)
        return response

    return OrgLimits(settings)


def _skip_unlimited_paths(app: Flask, limiter: Limiter) -> None:
    """Flask-Limiter's request hooks do not run at all on the paths without a per-IP limit
    (the quota path is called on every request a product serves): they would resolve limits
    only to find none, and add no header."""

    def unless_unlimited(hook: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(hook)
        def guarded(*args: Any) -> Any:
            if request.path.startswith(UNLIMITED_BY_IP):
                # An after-request hook hands the response on (a teardown's value is unused).
                return args[0] if args else None
            return hook(*args)

        return guarded

    every = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    for hooks in (registered[None] for registered in every):
        for i, hook in enumerate(hooks):
            owner = getattr(hook, "__self__", None) or next(iter(getattr(hook, "args", ())), None)
            if owner is limiter:
                hooks[i] = unless_unlimited(hook)


def org_limits() -> OrgLimits:
    limits: OrgLimits = current_app.extensions["org_limits"]
    return limits
