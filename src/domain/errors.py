"""Domain errors carry a stable machine code; the HTTP edge's error registry gives each class its
status (entrypoints/api/error_codes.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule the domain refuses. `code` is stable and documented."""

    code = "domain_error"
    # Details without a value are left out of the answer, unless the error's shape is fixed.
    keeps_empty_details = False

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def public_details(self) -> dict[str, object]:
        if self.keeps_empty_details:
            return dict(self.details)
        return {name: value for name, value in self.details.items() if value is not None}


class NotFound(DomainError):
    code = "not_found"


class UnknownPlan(DomainError):
    code = "unknown_plan"


class InvalidMoney(DomainError):
    code = "invalid_money"


class CurrencyMismatch(DomainError):
    code = "currency_mismatch"


class InvalidOrganization(DomainError):
    code = "invalid_organization"


class PaymentsNotConfigured(DomainError):
    code = "stripe_not_configured"


class RedirectNotAllowed(DomainError):
    code = "redirect_not_allowed"


class PaymentDeclined(DomainError):
    code = "card_declined"


class PaymentProviderAuthFailed(DomainError):
    code = "stripe_auth_failed"


class PaymentProviderUnavailable(DomainError):
    code = "stripe_unavailable"


class PaymentProviderRejected(DomainError):
    code = "stripe_rejected"


class PlanNotPurchasable(DomainError):
    code = "plan_not_purchasable"


class UnknownPrice(DomainError):
    code = "unknown_price"


class SubscriptionExists(DomainError):
    code = "subscription_exists"


class NoSubscription(DomainError):
    code = "subscription_not_found"


class PlanUnchanged(DomainError):
    code = "plan_unchanged"


class SubscriptionNotResumable(DomainError):
    code = "subscription_not_resumable"


class AlreadyPurchased(DomainError):
    code = "already_purchased"


class CustomerRequired(DomainError):
    code = "customer_required"


class UsageRejected(DomainError):
    code = "validation_error"


class QuotaUnavailable(DomainError):
    code = "quota_unavailable"


class QuotaExceeded(DomainError):
    """Over the plan's limit, nothing consumed. Carries the refused decision (allowed, metric,
    used, limit, remaining, resets_at, duplicate) so the caller learns when to come back;
    `resets_at` is null for gauges, and said so."""

    code = "quota_exceeded"
    keeps_empty_details = True


class NotAGauge(DomainError):
    code = "not_a_gauge"


class WebhookSignatureMissing(DomainError):
    code = "webhook_signature_missing"


class WebhookSignatureInvalid(DomainError):
    code = "webhook_signature_invalid"


class WebhookTimestampOutOfTolerance(DomainError):
    code = "webhook_timestamp_out_of_tolerance"


class WebhookMalformed(DomainError):
    code = "webhook_malformed"


class UnsupportedCurrency(DomainError):
    code = "unsupported_currency"


class UsageArchived(DomainError):
    """The raw entries asked for were archived by the retention command; totals remain."""

    code = "usage_archived"


class StorageConflict(DomainError):
    """A transaction lost a race the database resolves by aborting one side (a deadlock, a
    serialization failure, a busy embedded database); the whole unit of work may be retried."""

    code = "storage_conflict"


class AlertThresholdInvalid(DomainError):
    code = "alert_threshold_invalid"


class SpendCapInvalid(DomainError):
    code = "spend_cap_invalid"


class SpendCapReached(DomainError):
    """A voice consumption that would take the period's metered charge past the owner's cap:
    nothing consumed. Carries `cap`, `spent` (money) and `resets_at`."""

    code = "spend_cap_reached"


class WebhookUrlRejected(DomainError):
    """An endpoint URL that is not https (outside development), or that names or resolves to a
    private, loopback, link-local or unspecified address."""

    code = "webhook_url_rejected"


class InvalidWebhookEventType(DomainError):
    code = "invalid_webhook_event_type"


class TooManyWebhookEndpoints(DomainError):
    code = "webhook_endpoint_limit"
