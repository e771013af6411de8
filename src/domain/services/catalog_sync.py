"""Create or find the catalog's products and prices in the provider, by lookup key."""

from __future__ import annotations

from dataclasses import dataclass

from domain.model.payments import PriceSpec
from domain.model.plans import Catalog, Tier
from domain.ports import PaymentGateway


@dataclass(frozen=True)
class SyncLine:
    tier: Tier
    lookup_key: str
    action: str  # "exists", "created", "would_create" or "differs"
    price_id: str | None = None
    note: str = ""

    @property
    def env_line(self) -> str | None:
        if self.price_id is None:
            return None
        return f"STRIPE_{self.tier.value.upper()}_PRICE_ID={self.price_id}"


def product_id_for(tier: Tier) -> str:
    return f"billing_{tier.value}"


def sync_catalog(
    gateway: PaymentGateway, catalog: Catalog, dry_run: bool = False
) -> list[SyncLine]:
    """Idempotent: a second run finds every price by its lookup key and creates nothing."""
    plans = [p for p in catalog.plans() if p.is_paid and p.lookup_key]
    found = {p.lookup_key: p for p in gateway.find_prices([p.lookup_key for p in plans])}
    lines = []
    for plan in plans:
        existing = found.get(plan.lookup_key)
        if existing is not None:
            same = existing.unit_amount == plan.price and existing.interval is plan.interval
            note = (
                ""
                if same
                else (
                    f"Stripe has {existing.unit_amount.format()} "
                    f"{existing.interval.value}; the catalog says "
                    f"{plan.price.format()} {plan.interval.value}"
                )
            )
            lines.append(
                SyncLine(
                    plan.tier, plan.lookup_key, "exists" if same else "differs", existing.id, note
                )
            )
            continue
        if dry_run:
            lines.append(SyncLine(plan.tier, plan.lookup_key, "would_create"))
            continue
        spec = PriceSpec(
            plan.lookup_key,
            product_id_for(plan.tier),
            plan.name,
            plan.price,
            plan.interval,
            plan.tier,
        )
        gateway.ensure_product(
            spec.product_id, plan.name, idempotency_key=f"product-create:{spec.product_id}"
        )
        price = gateway.create_price(
            spec,
            idempotency_key=f"price-create:{spec.lookup_key}:{plan.price.amount_minor}:"
            f"{plan.price.currency}:{plan.interval.value}",
        )
        lines.append(SyncLine(plan.tier, plan.lookup_key, "created", price.id))
    return lines
