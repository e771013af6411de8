"""Pricing and rounding, as properties over every currency the service bills in: a line is the
exact price rounded once, half up, to the currency's minor unit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model.charge_limits import MINIMUM_CHARGE_MINOR, SUPPORTED_CURRENCIES
from domain.model.invoicing import BILLED_METRICS, UsagePrice, price_totals, totals_of
from domain.model.metering import UsageEvent
from domain.model.money import minor_units_per_major

MAX_WORDS = 2**53 - 1
T0 = datetime(2026, 11, 1, tzinfo=UTC)

currencies = st.sampled_from(SUPPORTED_CURRENCIES)
words = st.integers(min_value=0, max_value=MAX_WORDS)
# Rates as operators write them: up to 6 integer digits and up to 12 decimals.
rates = st.builds(
    lambda units, fraction, places: Decimal(units) + Decimal(fraction).scaleb(-places),
    st.integers(0, 999_999),
    st.integers(0, 10**12 - 1),
    st.integers(0, 12),
)


def half_up(value: Fraction) -> int:
    """Round a non-negative exact amount half up, with integers only."""
    whole, rest = divmod(value.numerator, value.denominator)
    return whole + (2 * rest >= value.denominator)


def exact_minor(quantity: int, rate: Decimal, currency: str) -> Fraction:
    return Fraction(quantity) * Fraction(rate) / 1000 * minor_units_per_major(currency)


@settings(max_examples=400)
@given(words, rates, currencies)
def test_a_line_is_the_exact_price_rounded_once_half_up(quantity, rate, currency):
    charged = UsagePrice(rate, currency).charge(quantity)
    exact = exact_minor(quantity, rate, currency)
    assert charged.currency == currency
    assert charged.amount_minor == half_up(exact)
    assert abs(charged.amount_minor - exact) <= Fraction(1, 2)


@given(words, words, rates, currencies)
def test_more_words_never_cost_less(a, b, rate, currency):
    price = UsagePrice(rate, currency)
    low, high = sorted((a, b))
    assert price.charge(low).amount_minor <= price.charge(high).amount_minor


@given(
    st.lists(
        st.tuples(st.sampled_from(BILLED_METRICS), st.integers(0, 10**9)), min_size=1, max_size=40
    ),
    rates,
    currencies,
)
def test_lines_round_once_per_metric_not_per_event(usage, rate, currency):
    events = [
        UsageEvent("org", metric, q, T0 + timedelta(seconds=i), f"k{i}", T0)
        for i, (metric, q) in enumerate(usage)
    ]
    lines = price_totals(totals_of(events), UsagePrice(rate, currency))
    assert [line.metric for line in lines] == [
        m for m in BILLED_METRICS if any(e.metric is m for e in events)
    ]
    for line in lines:
        mine = [e for e in events if e.metric is line.metric]
        assert line.quantity == sum(e.quantity for e in mine)
        assert line.event_count == len(mine)
        assert line.amount.amount_minor == half_up(exact_minor(line.quantity, rate, currency))
        assert (line.period_start, line.period_end) == (
            min(e.occurred_at for e in mine),
            max(e.occurred_at for e in mine),
        )


def test_every_supported_currency_has_a_minimum_in_its_own_minor_units():
    assert set(SUPPORTED_CURRENCIES) == set(MINIMUM_CHARGE_MINOR)
    assert MINIMUM_CHARGE_MINOR["jpy"] == 50 and minor_units_per_major("jpy") == 1  # ¥50
    assert MINIMUM_CHARGE_MINOR["usd"] == 50 and minor_units_per_major("usd") == 100  # $0.50
