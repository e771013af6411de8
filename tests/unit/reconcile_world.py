"""A fake Stripe account and our books, in sync through webhooks, then changed behind our back:
one organization per drift kind (shared by the reconciliation tests)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from domain.model.reconciliation import DriftKind, ObjectType
from domain.services.reconciliation import ReconcileDeps
from tests.helpers import bearer, deliver
from tests.stripe_fake import FakeStripe


@dataclass
class World:
    app: Any
    stripe: FakeStripe
    ports: dict[str, Any]
    # (object type, object id, kind) -> whether the repair is Stripe's (safe)
    seeded: dict[tuple[ObjectType, str, DriftKind], bool] = field(default_factory=dict)
    subs: dict[str, str] = field(default_factory=dict)  # org -> its subscription id
    invoices: dict[str, str] = field(default_factory=dict)  # org -> its Stripe invoice id
    purchase_id: str = ""

    @property
    def container(self) -> Any:
        return self.app.extensions["billing"]

    @property
    def store(self) -> Any:
        return self.ports["uow"].store

    def deps(self, **kwargs: Any) -> ReconcileDeps:
        return ReconcileDeps(self.container.payments, self.container.jobs, **kwargs)

    def customer(self, org_id: str) -> str:
        response = self.app.test_client().post(
            "/api/v1/billing/customer",
            json={"email": f"{org_id}@example.com"},
            headers=bearer(org_id, "owner"),
        )
        assert response.status_code in (200, 201), response.get_json()
        return str(response.get_json()["stripe_customer_id"])

    def paying(self, org_id: str, tier: str = "pro") -> str:
        cus = self.customer(org_id)
        sub = self.stripe.put_subscription(
            cus, self.stripe.price_ids[tier], "active", org_id=org_id
        )
        assert deliver(self.container, self.stripe.event("customer.subscription.created", sub))
        self.subs[org_id] = sub["id"]
        return cus

    def usage_invoice(self, org_id: str) -> str:
        client = self.app.test_client()
        client.post(
            "/api/v1/usage/events",
            json={"events": [{"metric": "stt_words", "quantity": 2500, "idempotency_key": "k1"}]},
            headers=bearer(org_id, "service"),
        )
        response = client.post(
            "/api/v1/billing/generate-usage-invoice", headers=bearer(org_id, "owner")
        )
        assert response.status_code in (200, 201), response.get_json()
        invoice = next(i for i in self.store.usage_invoices.values() if i.org_id == org_id)
        assert invoice.stripe_invoice_id
        self.invoices[org_id] = invoice.stripe_invoice_id
        return invoice.stripe_invoice_id

    def seed(self, object_type: ObjectType, object_id: str, kind: DriftKind, safe: bool) -> None:
        self.seeded[(object_type, object_id, kind)] = safe


def build_world(app: Any, stripe: FakeStripe, ports: dict[str, Any]) -> World:
    w = World(app, stripe, ports)
    sub = stripe.subscriptions
    # In sync: nothing to report.
    w.paying("org_in_sync")
    w.usage_invoice("org_in_sync")
    # Changed at Stripe with no webhook: another plan.
    w.paying("org_plan")
    sub[w.subs["org_plan"]]["items"]["data"][0]["price"] = copy.deepcopy(
        stripe.prices[stripe.price_ids["enterprise"]]
    )
    w.seed(ObjectType.SUBSCRIPTION, w.subs["org_plan"], DriftKind.PLAN_DIFFERS, True)
    # Renewed with no webhook: another period.
    w.paying("org_period")
    item = sub[w.subs["org_period"]]["items"]["data"][0]
    item["current_period_start"] = item["current_period_end"]
    item["current_period_end"] += int(timedelta(days=30).total_seconds())
    w.seed(ObjectType.SUBSCRIPTION, w.subs["org_period"], DriftKind.PERIOD_DIFFERS, True)
    # Canceled in the Dashboard.
    w.paying("org_canceled")
    sub[w.subs["org_canceled"]].update(status="canceled", canceled_at=stripe._ts())
    w.seed(ObjectType.SUBSCRIPTION, w.subs["org_canceled"], DriftKind.STATUS_DIFFERS, True)
    # Set to cancel at the period's end in the Dashboard.
    w.paying("org_cancel_flag")
    sub[w.subs["org_cancel_flag"]]["cancel_at_period_end"] = True
    w.seed(ObjectType.SUBSCRIPTION, w.subs["org_cancel_flag"], DriftKind.CANCEL_DIFFERS, True)
    # A usage invoice voided at Stripe.
    w.paying("org_voided")
    voided = w.usage_invoice("org_voided")
    stripe.invoices[voided]["status"] = "void"
    w.seed(ObjectType.INVOICE, voided, DriftKind.STATUS_DIFFERS, True)
    # A usage invoice whose amount was edited at Stripe (money: reported).
    w.paying("org_amount")
    edited = w.usage_invoice("org_amount")
    stripe.invoices[edited]["total"] += 100
    w.seed(ObjectType.INVOICE, edited, DriftKind.AMOUNT_DIFFERS, False)
    # A missed checkout.session.completed (subscription mode).
    w.customer("org_checkout")
    response = app.test_client().post(
        "/api/v1/billing/create-checkout-session",
        json={"plan_tier": "starter"},
        headers=bearer("org_checkout", "owner"),
    )
    assert response.status_code == 201, response.get_json()
    completed = stripe.complete_checkout(response.get_json()["session_id"])
    w.subs["org_checkout"] = completed["subscription"]
    w.seed(ObjectType.SUBSCRIPTION, completed["subscription"], DriftKind.MISSING_LOCALLY, True)
    # A missed completion of the white-label purchase (payment mode).
    w.customer("org_white_label")
    response = app.test_client().post(
        "/api/v1/white-label/purchase", json={}, headers=bearer("org_white_label", "owner")
    )
    assert response.status_code == 201, response.get_json()
    stripe.complete_checkout(response.get_json()["session_id"])
    w.purchase_id = next(p.id for p in w.store.purchases.values())
    w.seed(ObjectType.PURCHASE, w.purchase_id, DriftKind.STATUS_DIFFERS, True)
    # An extra invoice made at Stripe, none of ours (money: reported).
    cus = w.paying("org_extra_invoice")
    extra = stripe.put_invoice(cus, None, "open", amount=5000)
    w.seed(ObjectType.INVOICE, extra["id"], DriftKind.MISSING_LOCALLY, False)
    # A second live subscription (a double charge: reported).
    cus = w.paying("org_twice")
    second = stripe.put_subscription(cus, stripe.price_ids["starter"], "active")
    w.seed(ObjectType.ORGANIZATION, "org_twice", DriftKind.DUPLICATE_LIVE_SUBSCRIPTIONS, False)
    w.subs["org_twice_second"] = second["id"]
    # A subscription Stripe does not have (another account's, or live and test mixed).
    w.paying("org_gone")
    del sub[w.subs["org_gone"]]
    w.seed(ObjectType.SUBSCRIPTION, w.subs["org_gone"], DriftKind.MISSING_AT_STRIPE, False)
    # A Stripe customer no organization owns.
    orphan = stripe.create_customer("org_unknown", None, None, idempotency_key="orphan")
    stripe.customers[orphan]["metadata"] = {}
    w.seed(ObjectType.CUSTOMER, orphan, DriftKind.CUSTOMER_WITHOUT_ORGANIZATION, False)
    return w
