"""OpenAPI documentation of error answers: each status with the codes it can carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain import errors as e
from domain.errors import DomainError
from entrypoints.api import error_codes
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.errors import ErrorSchema

F = Callable[..., Any]
Answer = int | type[DomainError] | str


def errors(blp: Blueprint, *answers: Answer) -> Callable[[F], F]:
    """Document an operation's error responses. An answer is a status (documented with the
    codes every operation answers with it: token, role, body and validation errors), a
    DomainError class the operation may raise, or a code the edge answers itself; classes and
    codes are documented under the status the error registry gives them."""
    listed: dict[int, list[str]] = {}
    for answer in answers:
        if isinstance(answer, int):
            codes = error_codes.defaults_for(answer)
            status = answer
        else:
            entry = error_codes.lookup(answer)
            codes, status = [entry.code], entry.status
        shown = listed.setdefault(status, [])
        shown.extend(code for code in codes if code not in shown)

    def decorator(fn: F) -> F:
        for status, codes in listed.items():
            description = "Error codes: " + ", ".join(f"`{c}`" for c in codes) if codes else "Error"
            fn = blp.alt_response(status, schema=ErrorSchema, description=description)(fn)
        return fn

    return decorator


# Stripe's failures, answered by every operation that calls Stripe.
STRIPE_FAILURES: tuple[Answer, ...] = (
    e.PaymentProviderAuthFailed,
    e.PaymentProviderRejected,
    e.PaymentsNotConfigured,
    e.PaymentProviderUnavailable,
)
# A write to the payment provider: authentication, body rules and Stripe's failures.
PAYMENT_WRITE: tuple[Answer, ...] = (401, 403, 413, 415, 422, *STRIPE_FAILURES)
