"""One error shape for every failure: {"code", "message", "status"} (plus `errors` on 422).

The only place that maps domain codes to HTTP statuses.
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response, jsonify
from flask_smorest import Api
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from domain.errors import DomainError

log = logging.getLogger(__name__)

STATUS_BY_CODE: dict[str, int] = {
    "not_found": 404,
    "unknown_plan": 422,
    "invalid_money": 422,
    "currency_mismatch": 422,
    "invalid_organization": 401,
    "stripe_not_configured": 503,
    "service_unavailable": 503,
    "redirect_not_allowed": 400,
    "card_declined": 402,
    "stripe_auth_failed": 502,
    "stripe_rejected": 502,
    "stripe_unavailable": 503,
    "plan_not_purchasable": 422,
    "unknown_price": 422,
    "subscription_exists": 409,
    "subscription_not_found": 404,
    "plan_unchanged": 409,
    "subscription_not_resumable": 409,
    "already_purchased": 409,
    "customer_required": 409,
    "webhook_signature_missing": 400,
    "webhook_signature_invalid": 400,
    "webhook_timestamp_out_of_tolerance": 400,
    "webhook_malformed": 400,
    "quota_exceeded": 429,
    "quota_unavailable": 503,
    "not_a_gauge": 422,
    "validation_error": 422,
    "unsupported_currency": 422,
    # A lost database race that survived its retries: the request may simply be sent again.
    "storage_conflict": 503,
}

# Codes for plain HTTP errors, by status.
HTTP_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    500: "internal_error", 502: "bad_gateway", 503: "service_unavailable",
}


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


class BillingApi(Api):  # type: ignore[misc]
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        code = data.get("code") or HTTP_CODES.get(status, "http_error")
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
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        status = STATUS_BY_CODE.get(error.code, 400)
        extra = {k: v for k, v in error.details.items() if v is not None}
        return error_response(status, error.code, error.message, **extra)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(error: Exception) -> Response:
        # Postgres unreachable (or the pool exhausted): nothing was done; the caller retries.
        log.warning("database unavailable: %s", type(error).__name__)
        response = error_response(503, "database_unavailable",
                                  "the billing database is unavailable; retry shortly")
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(RecursionError)
    def _too_deep(error: RecursionError) -> Response:
        # The JSON parser recurses per nesting level: a hostile body nests until it overflows.
        return error_response(400, "json_too_deep", "the JSON body nests too deeply")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):  # routed here only if no closer handler exists
            return app.extensions["billing_api"].handle_http_exception(error)
        log.exception("unhandled error")
        return error_response(500, "internal_error", "the billing service failed; see its logs")


def codes_for(status: int) -> list[str]:
    return sorted(code for code, mapped in STATUS_BY_CODE.items() if mapped == status)
