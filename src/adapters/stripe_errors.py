"""Stripe's errors as domain errors, and Stripe objects as plain decoded JSON."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe

from adapters.stripe_http import StripePacingTimeout
from domain.errors import (
    PaymentDeclined,
    PaymentProviderAuthFailed,
    PaymentProviderRejected,
    PaymentProviderUnavailable,
)


@contextmanager
def translated_errors() -> Iterator[None]:
    try:
        yield
    except stripe.CardError as exc:
        error = exc.error
        decline = (error.decline_code if error else None) or exc.code or "card_declined"
        raise PaymentDeclined(
            exc.user_message or "the card was declined", decline_code=decline
        ) from None
    except (stripe.AuthenticationError, stripe.PermissionError):
        raise PaymentProviderAuthFailed(
            "Stripe refused the configured API key: check STRIPE_SECRET_KEY"
        ) from None
    except StripePacingTimeout as exc:
        raise PaymentProviderUnavailable(
            f"Stripe's rate limit is busy: {exc.user_message}; retry later"
        ) from None
    except (stripe.RateLimitError, stripe.APIConnectionError):
        raise PaymentProviderUnavailable("Stripe is unavailable right now; retry later") from None
    except (stripe.InvalidRequestError, stripe.IdempotencyError) as exc:
        raise PaymentProviderRejected(
            f"Stripe rejected the request: {exc.user_message or ''}".rstrip(": ")
        ) from None
    except stripe.StripeError:
        raise PaymentProviderUnavailable("Stripe failed to answer; retry later") from None


def plain(obj: stripe.StripeObject) -> dict[str, Any]:
    """The object as decoded JSON: the mapping code reads Stripe's documented field paths."""
    return obj.to_dict()
