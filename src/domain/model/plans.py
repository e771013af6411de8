"""The plan catalog: tiers, prices, quotas per metric and features (DESIGN §1)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from domain.errors import UnknownPlan
from domain.model.money import Money


class Tier(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    ENTERPRISE = "enterprise"
    WHITE_LABEL = "white_label"


TIER_ALIASES: Mapping[str, Tier] = {"basic": Tier.STARTER}


class Metric(StrEnum):
    QUERIES = "queries"
    DOCUMENTS = "documents"
    STT_WORDS = "stt_words"
    TTS_WORDS = "tts_words"

    @property
    def is_gauge(self) -> bool:
        """A gauge counts what exists now (documents); the others count per billing period."""
        return self is Metric.DOCUMENTS

    @property
    def is_voice(self) -> bool:
        return self in (Metric.STT_WORDS, Metric.TTS_WORDS)


class Interval(StrEnum):
    MONTH = "month"
    ONE_TIME = "one_time"


@dataclass(frozen=True)
class Quota:
    """A limit per metric; `limit=None` means unlimited."""

    metric: Metric
    limit: int | None

    @property
    def unlimited(self) -> bool:
        return self.limit is None

    def remaining(self, used: int) -> int | None:
        return None if self.limit is None else max(self.limit - used, 0)


@dataclass(frozen=True)
class Plan:
    tier: Tier
    name: str
    price: Money
    interval: Interval
    quotas: Mapping[Metric, Quota]
    features: tuple[str, ...] = ()
    lookup_key: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def is_paid(self) -> bool:
        return not self.price.is_zero

    @property
    def is_one_time(self) -> bool:
        return self.interval is Interval.ONE_TIME

    def quota(self, metric: Metric) -> Quota:
        # Metrics without a configured limit (voice words) are billed, never refused.
        return self.quotas.get(metric, Quota(metric, None))

    def monthly_price(self) -> Money:
        """What this plan contributes to MRR: one-time purchases contribute nothing."""
        return Money.zero(self.price.currency) if self.is_one_time else self.price


class Catalog:
    """The plans on sale, found by tier name or alias."""

    def __init__(self, plans: Iterable[Plan], default_tier: Tier = Tier.FREE) -> None:
        self._plans = {plan.tier: plan for plan in plans}
        if default_tier not in self._plans:
            raise UnknownPlan(f"default tier {default_tier.value!r} is not in the catalog")
        self.default_tier = default_tier

    def plans(self) -> list[Plan]:
        return list(self._plans.values())

    @property
    def default(self) -> Plan:
        return self._plans[self.default_tier]

    def get(self, name: str | Tier) -> Plan:
        tier = parse_tier(name)
        if tier not in self._plans:
            raise UnknownPlan(f"plan {tier.value!r} is not on sale", plan_tier=tier.value)
        return self._plans[tier]


def parse_tier(name: str | Tier) -> Tier:
    if isinstance(name, Tier):
        return name
    key = name.strip().lower()
    if key in TIER_ALIASES:
        return TIER_ALIASES[key]
    try:
        return Tier(key)
    except ValueError:
        known = ", ".join([t.value for t in Tier] + list(TIER_ALIASES))
        raise UnknownPlan(f"unknown plan {name!r}; known plans: {known}", plan_tier=name) from None


def _quotas(queries: int | None, documents: int | None) -> dict[Metric, Quota]:
    return {
        Metric.QUERIES: Quota(Metric.QUERIES, queries),
        Metric.DOCUMENTS: Quota(Metric.DOCUMENTS, documents),
    }


def default_plans() -> list[Plan]:
    """The default catalog of DESIGN §1; operators may configure another."""
    return [
        Plan(
            Tier.FREE,
            "Free",
            Money(0, "usd"),
            Interval.MONTH,
            _quotas(100, 5),
            ("basic support",),
            "billing_free",
        ),
        Plan(
            Tier.STARTER,
            "Starter",
            Money(2900, "usd"),
            Interval.MONTH,
            _quotas(5_000, 5),
            ("email support",),
            "billing_starter_monthly",
            ("basic",),
        ),
        Plan(
            Tier.PRO,
            "Pro",
            Money(9900, "usd"),
            Interval.MONTH,
            _quotas(100_000, None),
            ("priority support", "API access"),
            "billing_pro_monthly",
        ),
        Plan(
            Tier.ENTERPRISE,
            "Enterprise",
            Money(29900, "usd"),
            Interval.MONTH,
            _quotas(None, None),
            ("24/7 support", "custom integrations"),
            "billing_enterprise_monthly",
        ),
        Plan(
            Tier.WHITE_LABEL,
            "White-Label",
            Money(99900, "usd"),
            Interval.ONE_TIME,
            _quotas(None, None),
            ("full white-label",),
            "billing_white_label_once",
        ),
    ]


def default_catalog(default_tier: Tier = Tier.FREE) -> Catalog:
    return Catalog(default_plans(), default_tier)
