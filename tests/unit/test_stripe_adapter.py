"""The Stripe adapter's own rules, without the network: error translation and client settings."""

from __future__ import annotations

import pytest
import stripe

from adapters.stripe_gateway import API_VERSION, make_stripe_client, translated_errors
from domain.errors import (
    PaymentDeclined,
    PaymentProviderAuthFailed,
    PaymentProviderRejected,
    PaymentProviderUnavailable,
)

KEY = "sk_test_51SecretValue000000000000"


def _raise(exc: Exception):
    with translated_errors():
        raise exc


def test_card_error_is_declined_with_its_decline_code():
    error = stripe.CardError(
        "Your card has insufficient funds.",
        "payment_method",
        "card_declined",
        json_body={
            "error": {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
            }
        },
    )
    with pytest.raises(PaymentDeclined) as info:
        _raise(error)
    assert info.value.details == {"decline_code": "insufficient_funds"}
    assert info.value.message == "Your card has insufficient funds."


@pytest.mark.parametrize(
    "error",
    [
        stripe.AuthenticationError(f"Invalid API Key provided: {KEY}"),
        stripe.PermissionError(f"The provided key '{KEY}' does not have access"),
    ],
)
def test_auth_failures_never_echo_the_key(error):
    with pytest.raises(PaymentProviderAuthFailed) as info:
        _raise(error)
    assert KEY not in info.value.message and "sk_" not in info.value.message


@pytest.mark.parametrize(
    "error",
    [
        stripe.RateLimitError("Too many requests"),
        stripe.APIConnectionError("timed out"),
        stripe.APIError("internal"),
    ],
)
def test_rate_limits_and_outages_are_unavailable(error):
    with pytest.raises(PaymentProviderUnavailable):
        _raise(error)


def test_invalid_requests_are_rejected_with_stripes_message():
    error = stripe.InvalidRequestError(
        "No such price: 'price_x'",
        "price",
        json_body={
            "error": {"message": "No such price: 'price_x'", "type": "invalid_request_error"}
        },
    )
    with pytest.raises(PaymentProviderRejected) as info:
        _raise(error)
    assert "No such price: 'price_x'" in info.value.message


def test_client_pins_the_api_version_and_sets_retries_timeout_and_base():
    client = make_stripe_client(
        KEY, api_base="http://localhost:12111", timeout_s=7, max_network_retries=3
    )
    requestor = client._requestor
    options = requestor._options
    assert API_VERSION == stripe.api_version and options.stripe_version == API_VERSION
    assert options.max_network_retries == 3
    assert options.base_addresses["api"] == "http://localhost:12111"
    assert requestor._client._timeout == 7
