"""The money rules at their edges: comparisons at equality, each refusal and what it says, the
zero-decimal currencies, and Stripe's minimum and maximum charge per currency."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from domain.errors import CurrencyMismatch, InvalidMoney, UnsupportedCurrency
from domain.model.charge_limits import (
    MAXIMUM_AMOUNT_MINOR,
    check_currency,
    maximum_charge,
    minimum_charge,
)
from domain.model.money import Money, minor_units_per_major, rate


def refused(error: type[Exception], message: str):
    """The refusal and its whole message: the message is what the caller reads."""
    return pytest.raises(error, match=f"^{re.escape(message)}$")


def test_zero_decimal_currencies_have_one_minor_unit_per_major():
    assert minor_units_per_major("jpy") == 1
    assert minor_units_per_major("krw") == 1
    assert minor_units_per_major("usd") == 100
    assert minor_units_per_major("eur") == 100


def test_zero_is_zero_dollars_by_default():
    assert Money.zero() == Money(0, "usd")
    assert Money.zero("eur") == Money(0, "eur")
    assert Money.zero().is_zero and Money.zero("jpy").is_zero
    assert not Money(1, "usd").is_zero and not Money(-1, "usd").is_zero


def test_of_reads_major_units_in_dollars_by_default():
    assert Money.of("1") == Money(100, "usd")
    assert Money.of("0.5", "eur") == Money(50, "eur")
    assert Money.of("-2.25") == Money(-225, "usd")


def test_of_refuses_precision_below_the_minor_unit_and_says_so():
    with refused(InvalidMoney, "0.001 usd has more precision than its minor unit"):
        Money.of("0.001")
    with refused(InvalidMoney, "1.5 jpy has more precision than its minor unit"):
        Money.of("1.5", "jpy")


def test_rate_refusals_say_what_was_wrong():
    with refused(InvalidMoney, "rates are built from strings, got float"):
        rate(1.0)  # type: ignore[arg-type]
    with refused(InvalidMoney, "not a decimal number: 'one'"):
        rate("one")
    with refused(InvalidMoney, "not a finite number: 'Infinity'"):
        rate("Infinity")
    assert rate("-0.25") == Decimal("-0.25")
    assert rate("1E+3") == Decimal(1000)


def test_money_refusals_say_what_was_wrong():
    with refused(InvalidMoney, "amount_minor must be an integer number of minor units"):
        Money(Decimal(1), "usd")  # type: ignore[arg-type]
    with refused(InvalidMoney, "currency must be a lowercase ISO 4217 code, got 'usdx'"):
        Money(1, "usdx")
    with refused(InvalidMoney, "currency must be a lowercase ISO 4217 code, got 'u5d'"):
        Money(1, "u5d")
    with refused(InvalidMoney, "currency must be a lowercase ISO 4217 code, got 'Usd'"):
        Money(1, "Usd")
    assert Money(-5, "chf").amount_minor == -5


def test_multiplying_takes_whole_numbers_only():
    assert Money(250, "usd") * 0 == Money(0, "usd")
    assert Money(250, "usd") * -2 == Money(-500, "usd")
    whole_numbers_only = "money is multiplied by whole numbers only; price rates as Decimal"
    for times in (True, 1.5, Decimal(2)):
        with refused(InvalidMoney, whole_numbers_only):
            Money(100, "usd") * times  # type: ignore[operator]


def test_subtracting_never_mixes_currencies():
    assert Money(100, "usd") - Money(250, "usd") == Money(-150, "usd")
    with refused(CurrencyMismatch, "cannot combine usd with eur"):
        Money(100, "usd") - Money(100, "eur")
    with refused(CurrencyMismatch, "cannot combine eur with usd"):
        Money(100, "eur") + Money(100, "usd")


@pytest.mark.parametrize(
    ("a", "b", "lt", "le"),
    [(99, 100, True, True), (100, 100, False, True), (101, 100, False, False), (-1, 0, True, True)],
)
def test_comparisons_at_and_around_equality(a, b, lt, le):
    assert (Money(a, "usd") < Money(b, "usd")) is lt
    assert (Money(a, "usd") <= Money(b, "usd")) is le


def test_comparisons_never_mix_currencies():
    with refused(CurrencyMismatch, "cannot combine usd with gbp"):
        _ = Money(1, "usd") <= Money(1, "gbp")
    with refused(CurrencyMismatch, "cannot combine gbp with usd"):
        _ = Money(1, "gbp") < Money(1, "usd")


def test_major_and_format_per_currency():
    assert Money(5, "usd").major == Decimal("0.05")
    assert Money(-1999, "eur").format() == "-19.99 EUR"
    assert Money(7, "usd").format() == "0.07 USD"
    assert Money(1234, "krw").major == Decimal(1234)
    assert Money(1234, "krw").format() == "1234 KRW"


def test_rounding_to_minor_units_of_a_zero_decimal_currency():
    assert Money.round_from(Decimal("12.5"), "jpy") == Money(13, "jpy")
    assert Money.round_from(Decimal("12.49"), "jpy") == Money(12, "jpy")
    assert Money.round_from(Decimal("0.125"), "eur") == Money(13, "eur")


@pytest.mark.parametrize(
    ("currency", "minimum"), [("usd", 50), ("jpy", 50), ("gbp", 30), ("czk", 1500), ("thb", 1000)]
)
def test_stripes_minimum_charge_per_currency(currency, minimum):
    assert minimum_charge(currency) == Money(minimum, currency)


def test_stripes_maximum_charge_is_eight_digits_in_every_currency():
    assert MAXIMUM_AMOUNT_MINOR == 99_999_999
    assert maximum_charge("usd") == Money(99_999_999, "usd")
    assert maximum_charge("jpy") == Money(99_999_999, "jpy")


def test_an_unsupported_currency_is_refused_naming_the_supported_ones():
    assert check_currency("eur") == "eur"
    for refuse in (check_currency, minimum_charge, maximum_charge):
        with pytest.raises(UnsupportedCurrency) as caught:
            refuse("xyz")
        message = str(caught.value)
        assert message.startswith(
            "usage invoices cannot be billed in 'xyz': choose one of "
            "aed, aud, bgn, brl, cad, chf, czk, dkk, eur, gbp, "
        )
        assert message.endswith(", sgd, thb, usd (currencies with a known Stripe minimum charge)")
