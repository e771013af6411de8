"""Stripe's minimum and maximum amounts per charge, in minor units of each currency.

From Stripe's published table of minimum charge amounts (docs: Supported currencies, "Minimum
and maximum charge amounts"). A usage invoice under the minimum is carried forward to the next
one; one whose total is over the maximum (eight digits of minor units) could never be
collected, so it is held for an operator instead of being sent to Stripe. Usage invoices are
accepted only in these currencies: the service refuses to start with another.
"""

from __future__ import annotations

from domain.errors import UnsupportedCurrency
from domain.model.money import Money

MINIMUM_CHARGE_MINOR: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}
# "The amount value supports up to eight digits" (99999999 = $999,999.99 for USD).
MAXIMUM_AMOUNT_MINOR = 99_999_999

SUPPORTED_CURRENCIES = tuple(sorted(MINIMUM_CHARGE_MINOR))


def check_currency(currency: str) -> str:
    if currency not in MINIMUM_CHARGE_MINOR:
        raise UnsupportedCurrency(
            f"usage invoices cannot be billed in {currency!r}: choose one of "
            f"{', '.join(SUPPORTED_CURRENCIES)} (currencies with a known Stripe minimum charge)"
        )
    return currency


def minimum_charge(currency: str) -> Money:
    return Money(MINIMUM_CHARGE_MINOR[check_currency(currency)], currency)


def maximum_charge(currency: str) -> Money:
    check_currency(currency)
    return Money(MAXIMUM_AMOUNT_MINOR, currency)
