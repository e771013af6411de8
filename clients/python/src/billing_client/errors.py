"""Typed exceptions for the billing service's stable error codes.

Every error the service answers has the shape `{"code", "message", "status", ...}`; the client
raises the class registered for the code, else the class for the status, else `BillingError`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class BillingError(Exception):
    """An answer of the billing service that is not a success."""

    def __init__(self, code: str, message: str, status: int, body: dict[str, Any] | None = None):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.status = status
        self.body: dict[str, Any] = body or {}


class TransportError(BillingError):
    """The service could not be reached (connection refused, timeout) after every retry."""


class AuthenticationFailed(BillingError):
    """401: the token is missing, malformed, expired or revoked."""


class PermissionDenied(BillingError):
    """403: the token's role may not do this."""


class NotFound(BillingError):
    """404: no such object in the token's organization."""


class Conflict(BillingError):
    """409: the request contradicts the current state (e.g. a second live subscription)."""


class PayloadTooLarge(BillingError):
    """413: the body is larger than the service accepts."""


class ValidationFailed(BillingError):
    """422: the request did not validate; `errors` names the failing fields."""

    @property
    def errors(self) -> dict[str, Any]:
        value = self.body.get("errors")
        return value if isinstance(value, dict) else {}


class QuotaExceeded(BillingError):
    """429 `quota_exceeded`: nothing was consumed."""

    @property
    def metric(self) -> str | None:
        return self.body.get("metric")

    @property
    def limit(self) -> int | None:
        return self.body.get("limit")

    @property
    def used(self) -> int | None:
        return self.body.get("used")

    @property
    def remaining(self) -> int | None:
        return self.body.get("remaining")

    @property
    def resets_at(self) -> datetime | None:
        """When the quota resets; None for gauges (documents), which never reset."""
        return _moment(self.body.get("resets_at"))


class SpendCapReached(BillingError):
    """429 `spend_cap_reached`: the consumption would pass the period's spend cap."""

    @property
    def cap(self) -> dict[str, Any] | None:
        return self.body.get("cap")

    @property
    def spent(self) -> dict[str, Any] | None:
        return self.body.get("spent")

    @property
    def resets_at(self) -> datetime | None:
        return _moment(self.body.get("resets_at"))


class RateLimited(BillingError):
    """429 `rate_limited`: too many requests; `retry_after` seconds to wait."""

    retry_after: float | None = None


class PaymentsNotConfigured(BillingError):
    """503 `stripe_not_configured`: the service runs without a Stripe key."""


class ServiceUnavailable(BillingError):
    """503: a dependency of the service is down (quota counter, database); safe to retry."""


BY_CODE: dict[str, type[BillingError]] = {
    "quota_exceeded": QuotaExceeded,
    "spend_cap_reached": SpendCapReached,
    "rate_limited": RateLimited,
    "stripe_not_configured": PaymentsNotConfigured,
}
BY_STATUS: dict[int, type[BillingError]] = {
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    503: ServiceUnavailable,
}


def error_from(status: int, body: Any) -> BillingError:
    """The exception for one error answer (any body: a proxy may answer HTML)."""
    data: dict[str, Any] = body if isinstance(body, dict) else {}
    code = str(data.get("code") or f"http_{status}")
    cls = BY_CODE.get(code) or BY_STATUS.get(status) or BillingError
    return cls(code, str(data.get("message") or ""), status, data)
