"""Quota enforcement for products written in Flask, over the billing service's API.

    from billing_client import BillingClient
    from billing_client.flask import init_billing, quota_required

    init_billing(app, BillingClient(BILLING_URL, token=SERVICE_TOKEN))

    @app.post("/chat")
    @quota_required("queries")
    def chat(): ...

The decorator consumes on the way in; over quota it answers 429 with the billing service's JSON
(`quota_exceeded` or `spend_cap_reached`) and its RateLimit-* and Retry-After headers, and the view
does not run. `token=` takes a function answering the service token of the request's organization,
for a product serving several. When the billing service cannot be reached the view does not run
(503 `quota_unavailable`), unless `fail_open=True`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, jsonify, make_response

from billing_client.client import BillingClient
from billing_client.errors import BillingError, QuotaExceeded, ServiceUnavailable, TransportError
from billing_client.models import QuotaDecision

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION = "billing_client"
log = logging.getLogger("billing_client")


def init_billing(app: Flask, client: BillingClient) -> BillingClient:
    app.extensions[EXTENSION] = client
    return client


def quota_required(
    metric: str,
    amount: int = 1,
    *,
    token: Callable[[], str] | None = None,
    fail_open: bool = False,
) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            client: BillingClient = current_app.extensions[EXTENSION]
            try:
                decision = client.consume(metric, amount, token=token() if token else None)
            except QuotaExceeded as refused:
                return _refusal(refused)
            except BillingError as error:
                if error.status == 429:
                    return _refusal(error)
                if fail_open and isinstance(error, TransportError | ServiceUnavailable):
                    return view(*args, **kwargs)
                return _unavailable(error)
            response: Response = make_response(view(*args, **kwargs))
            response.headers.update(_limit_headers(decision))
            return response

        return cast(F, wrapper)

    return decorator


def _limit_headers(decision: QuotaDecision) -> dict[str, str]:
    if decision.limit is None or decision.remaining is None:
        return {}
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
    }
    if decision.resets_at is not None:
        headers["RateLimit-Reset"] = str(_seconds_until(decision.resets_at))
    return headers


def _refusal(error: BillingError) -> Response:
    response = jsonify(error.body or {"code": error.code, "message": error.message, "status": 429})
    response.status_code = 429
    resets_at = getattr(error, "resets_at", None)
    if isinstance(error, QuotaExceeded) and error.limit is not None:
        response.headers["RateLimit-Limit"] = str(error.limit)
        response.headers["RateLimit-Remaining"] = str(error.remaining or 0)
    if resets_at is not None:
        wait = _seconds_until(resets_at)
        response.headers["RateLimit-Reset"] = str(wait)
        response.headers["Retry-After"] = str(wait)
    return response


def _unavailable(error: BillingError) -> Response:
    # The product's user cannot fix the billing service or the product's token: log the cause
    # for the product's operator and answer what the billing API answers for a dead counter.
    log.error("quota check failed: %s", error)
    response = jsonify(
        {
            "code": "quota_unavailable",
            "message": "the quota could not be checked; retry shortly",
            "status": 503,
        }
    )
    response.status_code = 503
    response.headers["Retry-After"] = "1"
    return response


def _seconds_until(moment: datetime) -> int:
    return max(0, int((moment - datetime.now(UTC)).total_seconds()))
