"""Which provider price sells which plan: configured ids first, then lookup keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.model.payments import PriceInfo
from domain.model.plans import Catalog, Plan, Tier


class PriceBook:
    def __init__(self, catalog: Catalog, configured: Mapping[Tier, str]) -> None:
        self.catalog = catalog
        self._by_tier: dict[Tier, str] = dict(configured)
        self._tier_by_lookup_key = {p.lookup_key: p.tier for p in catalog.plans() if p.lookup_key}

    def price_id(self, plan: Plan) -> str | None:
        return self._by_tier.get(plan.tier)

    def unresolved_lookup_keys(self) -> list[str]:
        return [
            p.lookup_key
            for p in self.catalog.plans()
            if p.is_paid and p.lookup_key and p.tier not in self._by_tier
        ]

    def learn(self, prices: Iterable[PriceInfo]) -> None:
        """Remember prices found by lookup key; configured ids always win."""
        for price in prices:
            tier = self._tier_by_lookup_key.get(price.lookup_key or "")
            if tier is not None and price.active:
                self._by_tier.setdefault(tier, price.id)

    def tier_for(
        self, price_id: str | None, lookup_key: str | None = None, hint: str | None = None
    ) -> Tier | None:
        """The plan a price sells: a known price id, else its lookup key, else our own
        metadata hint (only for a tier the catalog sells)."""
        for tier, known in self._by_tier.items():
            if known == price_id:
                return tier
        if lookup_key in self._tier_by_lookup_key:
            return self._tier_by_lookup_key[lookup_key]
        sold = {p.tier.value: p.tier for p in self.catalog.plans()}
        return sold.get(hint or "")

    def plan_for_price(self, price_id: str) -> Plan | None:
        tier = self.tier_for(price_id)
        return self.catalog.get(tier) if tier is not None else None
