"""What the payment use cases need, passed as one explicit parameter."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from domain.errors import (
    PaymentsNotConfigured,
    PlanNotPurchasable,
    QuotaUnavailable,
    UnknownPrice,
)
from domain.model.plans import Catalog, Plan
from domain.model.prices import PriceBook
from domain.model.redirects import RedirectPolicy
from domain.ports import Clock, PaymentGateway, QuotaCounter, UnitOfWorkFactory


@dataclass(frozen=True)
class PaymentDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    catalog: Catalog
    gateway: PaymentGateway | None
    prices: PriceBook
    redirects: RedirectPolicy
    success_url: str | None = None
    cancel_url: str | None = None
    portal_return_url: str | None = None
    counter: QuotaCounter | None = None
    actor: str = "system"  # who or what causes the changes, for the audit trail
    api_version: str | None = None  # the Stripe API version the adapter is pinned to
    grace: timedelta = timedelta(days=7)  # a past-due subscription keeps its plan this long

    def acting_as(self, actor: str) -> PaymentDeps:
        return replace(self, actor=actor)

    def plan_changed(self, org_id: str) -> None:
        """Make the quota counter reload the organization's window; if it is unreachable the
        window expires on its own within a minute."""
        if self.counter is None:
            return
        try:
            self.counter.forget_window(org_id)
        except QuotaUnavailable:
            pass

    def require_gateway(self) -> PaymentGateway:
        if self.gateway is None:
            raise PaymentsNotConfigured(
                "payments are not configured: set STRIPE_SECRET_KEY (or STRIPE_API_KEY)"
            )
        return self.gateway

    def price_id(self, plan: Plan) -> str:
        """The provider price selling `plan`: configured, or found once by lookup key."""
        if not plan.is_paid:
            raise PlanNotPurchasable(
                f"the {plan.tier.value} plan is free: nothing to buy", plan_tier=plan.tier.value
            )
        price_id = self.prices.price_id(plan)
        if price_id is None:
            self._learn_prices()
            price_id = self.prices.price_id(plan)
        if price_id is None:
            env = f"STRIPE_{plan.tier.value.upper()}_PRICE_ID"
            raise PlanNotPurchasable(
                f"no Stripe price sells the {plan.tier.value} plan: set {env} or run "
                "`flask --app wsgi billing stripe-sync`",
                plan_tier=plan.tier.value,
            )
        return price_id

    def plan_for_price(self, price_id: str) -> Plan:
        plan = self.prices.plan_for_price(price_id)
        if plan is None:
            self._learn_prices()
            plan = self.prices.plan_for_price(price_id)
        if plan is None:
            raise UnknownPrice(f"{price_id!r} is not a price of the catalog")
        return plan

    def _learn_prices(self) -> None:
        keys = self.prices.unresolved_lookup_keys()
        if keys:
            self.prices.learn(self.require_gateway().find_prices(keys))
