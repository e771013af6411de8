"""Quota enforcement for products written in Flask.

    from entrypoints.flask_quota import init_billing, quota_required

    init_billing(app)  # the billing service's settings: DATABASE_URL, REDIS_URL, ...

    @app.post("/chat")
    @quota_required("queries", org_id=lambda: g.user.org_id)
    def chat(): ...

The decorator consumes on the way in; over quota it answers 429 `quota_exceeded` in the billing
API's shape, with RateLimit-* and Retry-After headers, and the view does not run. Without an
`org_id` function the organization comes from a billing JWT (roles service or owner).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, make_response, request

from domain.model.plans import Metric
from domain.services.quotas import consume_quota
from entrypoints.api.auth import USE_QUOTA, authenticate
from entrypoints.api.errors import domain_error_response, rate_limit_headers
from entrypoints.bootstrap import Container, bootstrap

F = TypeVar("F", bound=Callable[..., Any])


def init_billing(app: Flask, container: Container | None = None) -> Container:
    container = container or bootstrap()
    app.extensions["billing"] = container
    return container


def quota_required(
    metric: str, amount: int = 1, org_id: Callable[[], str] | None = None
) -> Callable[[F], F]:
    counted = Metric(metric)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from flask import current_app

            container: Container = current_app.extensions["billing"]
            org = org_id() if org_id is not None else authenticate(USE_QUOTA).org_id
            decision = consume_quota(
                container.quota, org, counted, amount, request.headers.get("Idempotency-Key")
            )
            if not decision.allowed:
                # The product's app has no billing error handler: answer the refusal here.
                return domain_error_response(decision.refusal())
            response: Response = make_response(view(*args, **kwargs))
            response.headers.update(
                rate_limit_headers(
                    decision.limit, decision.remaining, decision.resets_at, refused=False
                )
            )
            return response

        return wrapper  # type: ignore[return-value]

    return decorator
