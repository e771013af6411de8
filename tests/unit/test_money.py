from decimal import Decimal

import pytest

from domain.errors import CurrencyMismatch, InvalidMoney
from domain.model.money import Money, rate


def test_money_adds_and_subtracts_in_minor_units():
    assert Money(2900, "usd") + Money(9900, "usd") == Money(12800, "usd")
    assert Money(2900, "usd") - Money(900, "usd") == Money(2000, "usd")
    assert Money(2900, "usd") * 3 == Money(8700, "usd")


def test_money_refuses_floats_bools_and_bad_currencies():
    with pytest.raises(InvalidMoney):
        Money(29.0, "usd")  # type: ignore[arg-type]
    with pytest.raises(InvalidMoney):
        Money(True, "usd")  # type: ignore[arg-type]
    with pytest.raises(InvalidMoney):
        Money(100, "USD")
    with pytest.raises(InvalidMoney):
        Money(100, "us")
    with pytest.raises(InvalidMoney):
        Money(100, "usd") * 1.5  # type: ignore[operator]


def test_money_never_mixes_currencies():
    with pytest.raises(CurrencyMismatch):
        Money(100, "usd") + Money(100, "eur")
    with pytest.raises(CurrencyMismatch):
        _ = Money(100, "usd") < Money(100, "eur")


def test_money_from_major_string_keeps_exact_cents():
    assert Money.of("29.00") == Money(2900, "usd")
    assert Money.of("0.10") + Money.of("0.20") == Money.of("0.30")
    assert Money.of("1000", "jpy") == Money(1000, "jpy")
    with pytest.raises(InvalidMoney):
        Money.of("0.001")


def test_rate_is_built_from_strings_only():
    assert rate("1.00") == Decimal("1.00")
    with pytest.raises(InvalidMoney):
        rate(1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidMoney):
        rate("NaN")
    with pytest.raises(InvalidMoney):
        rate("one")


@pytest.mark.parametrize(
    ("major", "minor"),
    [
        ("0.001", 0),
        ("0.005", 1),
        ("0.015", 2),
        ("1.234", 123),
        ("1.235", 124),
        ("123.456789", 12346),
    ],
)
def test_round_from_rounds_half_up_once(major, minor):
    assert Money.round_from(Decimal(major), "usd") == Money(minor, "usd")


def test_format_and_major():
    assert Money(2900, "usd").format() == "29.00 USD"
    assert Money(500, "jpy").format() == "500 JPY"
    assert Money(12345, "usd").major == Decimal("123.45")
