"""Python client of the billing service. See `BillingClient`."""

from billing_client.client import BillingClient
from billing_client.errors import (
    AuthenticationFailed,
    BillingError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    PaymentsNotConfigured,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    ServiceUnavailable,
    SpendCapReached,
    TransportError,
    ValidationFailed,
)
from billing_client.models import MetricQuota, QuotaDecision, QuotaReport, UsageEvent, UsageResult
from billing_client.recorder import BufferFull, UsageRecorder

__all__ = [
    "AuthenticationFailed",
    "BillingClient",
    "BillingError",
    "BufferFull",
    "Conflict",
    "MetricQuota",
    "NotFound",
    "PayloadTooLarge",
    "PaymentsNotConfigured",
    "PermissionDenied",
    "QuotaDecision",
    "QuotaExceeded",
    "QuotaReport",
    "RateLimited",
    "ServiceUnavailable",
    "SpendCapReached",
    "TransportError",
    "UsageEvent",
    "UsageRecorder",
    "UsageResult",
    "ValidationFailed",
]
