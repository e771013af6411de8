"""The error registry: every stable code the API answers, with its HTTP status.

The one map from codes to statuses. The error handler answers with it, each operation's
documented error codes come from it, and the README's table of codes is generated from it
(`python -m entrypoints.api.error_codes`; a test keeps the README equal to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain import errors as e
from domain.errors import DomainError


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    note: str = ""  # what the README adds in parentheses
    default: bool = False  # documented on every operation that answers this status


# Codes the domain raises: each DomainError class with its status and the README's note.
_DOMAIN: tuple[tuple[type[DomainError], int, str], ...] = (
    (e.RedirectNotAllowed, 400, "a success/cancel/return URL outside `ALLOWED_REDIRECT_ORIGINS`"),
    (e.WebhookSignatureMissing, 400, ""),
    (e.WebhookSignatureInvalid, 400, ""),
    (e.WebhookTimestampOutOfTolerance, 400, ""),
    (e.WebhookMalformed, 400, ""),
    (e.InvalidOrganization, 401, ""),
    (e.PaymentDeclined, 402, "with Stripe's `decline_code`"),
    (e.NotFound, 404, "another organization's object answers exactly like a missing one"),
    (e.NoSubscription, 404, ""),
    (e.SubscriptionExists, 409, ""),
    (e.PlanUnchanged, 409, ""),
    (e.SubscriptionNotResumable, 409, ""),
    (e.AlreadyPurchased, 409, ""),
    (e.CustomerRequired, 409, ""),
    (e.UsageRejected, 422, "also unknown fields and query parameters"),
    (e.UnknownPlan, 422, ""),
    (e.UnknownPrice, 422, ""),
    (e.PlanNotPurchasable, 422, ""),
    (e.NotAGauge, 422, ""),
    (e.UnsupportedCurrency, 422, ""),
    (e.InvalidMoney, 422, ""),
    (e.CurrencyMismatch, 422, ""),
    (
        e.AlertThresholdInvalid,
        422,
        "a percent above 100, of an unlimited metric, or an amount out of range",
    ),
    (e.SpendCapInvalid, 422, "not in the usage currency, or out of range"),
    (e.UsageArchived, 410, "the invoice's raw events were archived; its lines keep their totals"),
    (e.QuotaExceeded, 429, "with `used`, `limit`, `remaining`, `resets_at` and RateLimit headers"),
    (e.SpendCapReached, 429, "with `cap`, `spent` and `resets_at`"),
    (e.PaymentProviderAuthFailed, 502, "the key is never echoed"),
    (e.PaymentProviderRejected, 502, "with Stripe's message"),
    (e.PaymentsNotConfigured, 503, "says which variable to set"),
    (e.PaymentProviderUnavailable, 503, ""),
    (e.QuotaUnavailable, 503, ""),
    (e.StorageConflict, 503, "a database race that outlived its retries: send again"),
    # Webhooks to the product.
    (e.TooManyWebhookEndpoints, 409, "at most 20 endpoints per organization"),
    (e.WebhookUrlRejected, 422, "not https, or a private, loopback or link-local address"),
    (e.InvalidWebhookEventType, 422, "with the `allowed` types"),
)
DOMAIN: dict[type[DomainError], ErrorCode] = {
    cls: ErrorCode(cls.code, status, note) for cls, status, note in _DOMAIN
}

# Codes the HTTP edge answers itself: authentication, request rules, rate limits, probes.
EDGE: dict[str, ErrorCode] = {
    entry.code: entry
    for entry in (
        ErrorCode("bad_request", 400, default=True),
        ErrorCode("json_too_deep", 400),
        ErrorCode("token_missing", 401, default=True),
        ErrorCode("token_invalid", 401, default=True),
        ErrorCode("token_expired", 401, default=True),
        ErrorCode("token_revoked", 401),
        ErrorCode("unauthorized", 401),
        ErrorCode("forbidden_role", 403, default=True),
        ErrorCode("forbidden", 403),
        ErrorCode(
            "metrics_forbidden", 403, "not from `METRICS_ALLOWED_IPS` and no platform_admin token"
        ),
        ErrorCode("not_found", 404),
        ErrorCode("method_not_allowed", 405),
        ErrorCode("conflict", 409),
        ErrorCode("payload_too_large", 413, default=True),
        ErrorCode("unsupported_media_type", 415, "bodies are `application/json`", default=True),
        ErrorCode("validation_error", 422, default=True),
        ErrorCode("rate_limited", 429, "with `Retry-After`"),
        ErrorCode("internal_error", 500),
        ErrorCode("bad_gateway", 502),
        ErrorCode("service_unavailable", 503),
        ErrorCode("webhook_store_unavailable", 503),
        ErrorCode("not_ready", 503),
        ErrorCode("database_unavailable", 503, "Postgres unreachable: nothing was done, retry"),
    )
}

# The code a plain HTTP error (a werkzeug exception, `abort(status)`) answers with.
HTTP_DEFAULTS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
}


def entry_for(error_class: type[DomainError]) -> ErrorCode | None:
    """The class's own entry, or its nearest registered base's."""
    for cls in error_class.__mro__:
        if cls in DOMAIN:
            return DOMAIN[cls]
    return None


def status_of(error: DomainError) -> int:
    entry = entry_for(type(error))
    return entry.status if entry is not None else 500


def edge_status(code: str) -> int:
    return EDGE[code].status


def lookup(answer: type[DomainError] | str) -> ErrorCode:
    """A domain error class or an edge code, as documented."""
    if isinstance(answer, str):
        return EDGE[answer]
    entry = entry_for(answer)
    if entry is None:
        raise KeyError(f"{answer.__name__} has no entry in the error registry")
    return entry


def defaults_for(status: int) -> list[str]:
    return [entry.code for entry in EDGE.values() if entry.status == status and entry.default]


def all_codes() -> list[ErrorCode]:
    """Every code once, by status, the domain's before the edge's of the same status."""
    seen: dict[str, ErrorCode] = {}
    for entry in [*DOMAIN.values(), *EDGE.values()]:
        seen.setdefault(entry.code, entry)
    return sorted(seen.values(), key=lambda entry: entry.status)


def readme_table() -> str:
    rows = ["| status | codes |", "|---|---|"]
    statuses = sorted({entry.status for entry in all_codes()})
    for status in statuses:
        listed = ", ".join(
            f"`{entry.code}`" + (f" ({entry.note})" if entry.note else "")
            for entry in all_codes()
            if entry.status == status
        )
        rows.append(f"| {status} | {listed} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(readme_table(), end="")
