"""One error shape for every failure: {"code", "message", "status"} (plus `errors` on 422).

Statuses come from the error registry (error_codes.py), the one map from codes to statuses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import Flask, Response, current_app, jsonify
from flask_smorest import Api
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from domain.errors import DomainError, QuotaExceeded, SpendCapReached
from entrypoints.api import error_codes

log = logging.getLogger(__name__)


class ErrorSchema(ma.Schema):
    class Meta:
        # Some codes add context (decline_code, plan_tier, subscription_id, checks).
        unknown = ma.INCLUDE

    code = ma.fields.String(required=True, metadata={"description": "Stable machine code"})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong"})
    status = ma.fields.Integer(required=True, metadata={"description": "HTTP status"})
    errors = ma.fields.Dict(metadata={"description": "Field errors (validation only)"})


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    response = jsonify({"code": code, "message": message, "status": status, **extra})
    response.status_code = status
    return response


def edge_error(code: str, message: str, **extra: Any) -> Response:
    """An error the HTTP edge answers itself, with the registry's status for its code."""
    return error_response(error_codes.edge_status(code), code, message, **extra)


def rate_limit_headers(
    limit: Any, remaining: Any, resets_at: Any, *, refused: bool, now: datetime | None = None
) -> dict[str, str]:
    """RateLimit-* headers of a limited quota; Retry-After too when it refused. `now` is the
    app's clock unless given."""
    if limit is None:
        return {}
    headers = {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining)}
    if resets_at is not None:
        if now is None:
            now = current_app.extensions["billing"].clock.now()
        seconds = str(max(0, math.ceil((resets_at - now).total_seconds())))
        headers["RateLimit-Reset"] = seconds
        if refused:
            headers["Retry-After"] = seconds
    return headers


def _quota_headers(error: DomainError) -> dict[str, str]:
    details = error.details
    return rate_limit_headers(
        details["limit"], details["remaining"], details["resets_at"], refused=True
    )


def _spend_cap_headers(error: DomainError) -> dict[str, str]:
    resets_at = error.details.get("resets_at")
    if not isinstance(resets_at, datetime):
        return {}
    now = current_app.extensions["billing"].clock.now()
    return {"Retry-After": str(max(0, math.ceil((resets_at - now).total_seconds())))}


# Errors whose answer carries headers besides the body.
HEADERS: dict[type[DomainError], Callable[[DomainError], dict[str, str]]] = {
    QuotaExceeded: _quota_headers,
    SpendCapReached: _spend_cap_headers,
}


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def domain_error_response(error: DomainError) -> Response:
    """The answer to a domain error: its registered status, code, message and details."""
    extra = {name: _json_value(value) for name, value in error.public_details().items()}
    response = error_response(error_codes.status_of(error), error.code, error.message, **extra)
    for cls, headers in HEADERS.items():
        if isinstance(error, cls):
            response.headers.update(headers(error))
    return response


class BillingApi(Api):  # type: ignore[misc]
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        code = data.get("code") or error_codes.HTTP_DEFAULTS.get(status, "http_error")
        message = data.get("message") or error.description or error.name
        extra: dict[str, Any] = {}
        if "errors" in data or "messages" in data:
            extra["errors"] = data.get("errors") or data.get("messages")
            message = data.get("message") or "the request did not validate"
        response = error_response(status, code, message, **extra)
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, domain_error_response)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(error: Exception) -> Response:
        # Postgres unreachable (or the pool exhausted): nothing was done; the caller retries.
        log.warning("database unavailable: %s", type(error).__name__)
        response = error_response(
            error_codes.edge_status("database_unavailable"),
            "database_unavailable",
            "the billing database is unavailable; retry shortly",
        )
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(RecursionError)
    def _too_deep(error: RecursionError) -> Response:
        # The JSON parser recurses per nesting level: a hostile body nests until it overflows.
        return edge_error("json_too_deep", "the JSON body nests too deeply")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):  # routed here only if no closer handler exists
            answer: Response = app.extensions["billing_api"].handle_http_exception(error)
            return answer
        log.exception("unhandled error")
        return edge_error("internal_error", "the billing service failed; see its logs")
