"""Money in integer minor units, and Decimal rates built from strings.

Never a float: a float cannot hold most cent values exactly, and billing sums must add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from domain.errors import CurrencyMismatch, InvalidMoney

# Minor units per major unit for the currencies the catalog uses; Stripe lists zero-decimal ones.
_ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)


def minor_units_per_major(currency: str) -> int:
    return 1 if currency in _ZERO_DECIMAL else 100


def rate(value: str) -> Decimal:
    """A price or rate from its decimal string, e.g. rate("1.00"). Floats are refused."""
    if not isinstance(value, str):
        raise InvalidMoney(f"rates are built from strings, got {type(value).__name__}")
    try:
        parsed = Decimal(value)
    except InvalidOperation as exc:
        raise InvalidMoney(f"not a decimal number: {value!r}") from exc
    if not parsed.is_finite():
        raise InvalidMoney(f"not a finite number: {value!r}")
    return parsed


@dataclass(frozen=True, order=False)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise InvalidMoney("amount_minor must be an integer number of minor units")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.islower():
            raise InvalidMoney(f"currency must be a lowercase ISO 4217 code, got {self.currency!r}")

    @classmethod
    def zero(cls, currency: str = "usd") -> Money:
        return cls(0, currency)

    @classmethod
    def of(cls, major: str, currency: str = "usd") -> Money:
        """Money from a major-unit decimal string ("29.00"); refuses sub-minor precision."""
        minor = rate(major) * minor_units_per_major(currency)
        if minor != minor.to_integral_value():
            raise InvalidMoney(f"{major} {currency} has more precision than its minor unit")
        return cls(int(minor), currency)

    @classmethod
    def round_from(cls, major: Decimal, currency: str) -> Money:
        """Round a Decimal major amount once to minor units, half up (the invoice line rule)."""
        minor = (major * minor_units_per_major(currency)).quantize(
            Decimal(1),  # pragma: no mutate (quantize reads only its exponent: whole units)
            ROUND_HALF_UP,
        )
        return cls(int(minor), currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __mul__(self, times: int) -> Money:
        if isinstance(times, bool) or not isinstance(times, int):
            raise InvalidMoney("money is multiplied by whole numbers only; price rates as Decimal")
        return Money(self.amount_minor * times, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount_minor <= other.amount_minor

    @property
    def is_zero(self) -> bool:
        return self.amount_minor == 0

    @property
    def major(self) -> Decimal:
        return Decimal(self.amount_minor) / minor_units_per_major(self.currency)

    def format(self) -> str:
        places = 0 if minor_units_per_major(self.currency) == 1 else 2
        return f"{self.major:.{places}f} {self.currency.upper()}"
