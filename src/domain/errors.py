"""Domain errors carry a stable machine code; the HTTP edge maps codes to statuses."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule the domain refuses. `code` is stable and documented."""

    code = "domain_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


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


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
