"""An in-memory Stripe behind the PaymentGateway port.

It keeps objects in Stripe's own JSON shapes (built from Stripe's published fixtures in
tests/fixtures/stripe/objects.json, for the pinned API version) and reads them back with the same
mapping code as the real adapter, so a field moved by an API version breaks both. It honours
idempotency keys as Stripe does: the same key with the same parameters answers the first result;
with other parameters it is an error.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters import stripe_mapping as mapping
from adapters.stripe_gateway import API_VERSION
from domain.errors import DomainError, PaymentProviderRejected
from domain.model.money import Money
from domain.model.payments import (
    CheckoutMode,
    CheckoutRequest,
    CheckoutSession,
    InvoiceSnapshot,
    PriceInfo,
    PriceSpec,
    ProrationBehavior,
    ProrationPreview,
    SubscriptionIntent,
)
from domain.model.plans import Interval
from domain.model.subscriptions import SubscriptionSnapshot
from tests.stripe_fake_lists import FakeStripeLists

FIXTURES = json.loads((Path(__file__).parent / "fixtures/stripe/objects.json").read_text())


def fixture(kind: str, **fields: Any) -> dict[str, Any]:
    obj = copy.deepcopy(FIXTURES[kind])
    obj.update(fields)
    return obj


class FakeStripe(FakeStripeLists):
    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self.now = now or (lambda: datetime.now(UTC))
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.events_sent: list[dict[str, Any]] = []  # what `GET /v1/events` lists
        self.retrieve_delay_s = 0.0  # a slow Stripe, for tests that stop a worker mid-event
        self.broken: set[str] = set()  # object ids whose retrieval fails (a handler that breaks)
        self.calls: list[tuple[str, str | None]] = []  # (operation, idempotency key)
        self.proration_dates: list[int | None] = []  # passed with each price change
        self._replies: dict[str, tuple[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.failures: list[DomainError] = []
        self.failures_on: dict[str, list[Exception]] = {}

    # -- helpers -------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def _ts(self, delta: timedelta = timedelta(0)) -> int:
        return int((self.now() + delta).timestamp())

    def _idempotent(self, op: str, key: str, params: Any, create: Callable[[], Any]) -> Any:
        signature = json.dumps([op, params], sort_keys=True, default=str)
        with self._lock:
            self.calls.append((op, key))
            if self.failures:
                raise self.failures.pop(0)
            if self.failures_on.get(op):
                raise self.failures_on[op].pop(0)
            if key in self._replies:
                seen, reply = self._replies[key]
                if seen != signature:
                    raise PaymentProviderRejected(
                        "Stripe rejected the request: Keys for idempotent requests can only be "
                        "used with the same parameters they were first used with."
                    )
                return copy.deepcopy(reply)
            reply = create()
            self._replies[key] = (signature, copy.deepcopy(reply))
            return reply

    def fail_next(self, error: DomainError) -> None:
        self.failures.append(error)

    def fail_on(self, op: str, error: Exception, times: int = 1) -> None:
        """Make the next `times` calls of one operation (e.g. "invoices.finalize") fail."""
        self.failures_on.setdefault(op, []).extend([error] * times)

    def add_price(
        self,
        lookup_key: str,
        amount: int,
        interval: Interval,
        price_id: str | None = None,
        currency: str = "usd",
    ) -> str:
        price_id = price_id or self._id("price")
        recurring = (
            {
                "interval": "month",
                "interval_count": 1,
                "meter": None,
                "trial_period_days": None,
                "usage_type": "licensed",
            }
            if interval is Interval.MONTH
            else None
        )
        self.prices[price_id] = fixture(
            "price",
            id=price_id,
            lookup_key=lookup_key,
            unit_amount=amount,
            unit_amount_decimal=str(amount),
            currency=currency,
            recurring=recurring,
            active=True,
            type="recurring" if recurring else "one_time",
            product=f"prod_{lookup_key}",
        )
        return price_id

    def _item(self, sub_id: str, price_id: str) -> dict[str, Any]:
        return fixture(
            "subscription_item",
            id=self._id("si"),
            subscription=sub_id,
            price=copy.deepcopy(self.prices[price_id]),
            quantity=1,
            current_period_start=self._ts(),
            current_period_end=self._ts(timedelta(days=30)),
        )

    # -- PaymentGateway ------------------------------------------------------------------
    def create_customer(
        self, org_id: str, email: str | None, name: str | None, *, idempotency_key: str
    ) -> str:
        def create() -> str:
            cid = self._id("cus")
            self.customers[cid] = fixture(
                "customer", id=cid, email=email, name=name, metadata={"org_id": org_id}
            )
            return cid

        result: str = self._idempotent(
            "customers.create", idempotency_key, [org_id, email, name], create
        )
        return result

    def update_customer(
        self, customer_id: str, email: str | None, name: str | None, *, idempotency_key: str
    ) -> None:
        def update() -> None:
            self.customers[customer_id].update(email=email, name=name)

        self._idempotent("customers.update", idempotency_key, [customer_id, email, name], update)

    def create_subscription(
        self, customer_id: str, price_id: str, metadata: dict[str, str], *, idempotency_key: str
    ) -> SubscriptionIntent:
        def create() -> dict[str, Any]:
            if price_id not in self.prices:
                raise PaymentProviderRejected(
                    f"Stripe rejected the request: No such price: '{price_id}'"
                )
            sid = self._id("sub")
            invoice = fixture(
                "invoice",
                id=self._id("in"),
                status="open",
                customer=customer_id,
                confirmation_secret={"client_secret": f"pi_secret_{sid}", "type": "payment_intent"},
            )
            sub = fixture(
                "subscription",
                id=sid,
                customer=customer_id,
                status="incomplete",
                metadata=dict(metadata),
                cancel_at_period_end=False,
                canceled_at=None,
                cancel_at=None,
                ended_at=None,
                latest_invoice=invoice.get("id"),
                start_date=self._ts(),
            )
            sub["items"] = {
                "object": "list",
                "data": [self._item(sid, price_id)],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sid}",
            }
            self.subscriptions[sid] = sub
            return {**copy.deepcopy(sub), "latest_invoice": invoice}

        sub = self._idempotent(
            "subscriptions.create", idempotency_key, [customer_id, price_id, metadata], create
        )
        return mapping.subscription_intent(sub)

    def _retrieve(self, op: str, store: dict[str, dict[str, Any]], object_id: str) -> Any:
        if self.retrieve_delay_s:
            time.sleep(self.retrieve_delay_s)
        with self._lock:
            self.calls.append((op, None))
            if object_id in self.broken:
                raise RuntimeError(f"retrieving {object_id} fails")
            if object_id not in store:
                raise PaymentProviderRejected(
                    f"Stripe rejected the request: No such object: '{object_id}'"
                )
            return copy.deepcopy(store[object_id])

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionSnapshot:
        return mapping.subscription_snapshot(
            self._retrieve("subscriptions.retrieve", self.subscriptions, subscription_id)
        )

    def retrieve_invoice(self, invoice_id: str) -> InvoiceSnapshot:
        return mapping.invoice_snapshot(
            self._retrieve("invoices.retrieve", self.invoices, invoice_id)
        )

    def _update(
        self,
        op: str,
        key: str,
        subscription_id: str,
        params: Any,
        change: Callable[[dict[str, Any]], None],
    ) -> SubscriptionSnapshot:
        def apply() -> dict[str, Any]:
            sub = self.subscriptions[subscription_id]
            change(sub)
            return copy.deepcopy(sub)

        return mapping.subscription_snapshot(
            self._idempotent(op, key, [subscription_id, params], apply)
        )

    def change_subscription_price(
        self,
        subscription_id: str,
        price_id: str,
        proration: ProrationBehavior,
        *,
        idempotency_key: str,
        proration_date: int | None = None,
    ) -> SubscriptionSnapshot:
        def change(sub: dict[str, Any]) -> None:
            sub["items"]["data"][0]["price"] = copy.deepcopy(self.prices[price_id])

        self.calls.append(("subscriptions.retrieve", None))
        self.proration_dates.append(proration_date)
        return self._update(
            "subscriptions.update",
            idempotency_key,
            subscription_id,
            [price_id, proration.value],
            change,
        )

    def preview_subscription_change(
        self,
        subscription_id: str,
        price_id: str,
        proration: ProrationBehavior,
        proration_date: int,
    ) -> ProrationPreview:
        """Stripe's arithmetic in small: the price difference for the part of the period left
        at `proration_date`; `always_invoice` bills it now, `create_prorations` puts it on the
        next period's invoice."""
        sub = self._retrieve("subscriptions.retrieve", self.subscriptions, subscription_id)
        with self._lock:
            self.calls.append(("invoices.create_preview", None))
            item = sub["items"]["data"][0]
            new = self.prices[price_id]["unit_amount"]
            start, end = item["current_period_start"], item["current_period_end"]
            left = max(0, end - proration_date) / max(1, end - start)
            lines = [
                {"amount": -round(item["price"]["unit_amount"] * left), "proration": True},
                {"amount": round(new * left), "proration": True},
            ]
            if proration is ProrationBehavior.CREATE_PRORATIONS:
                lines.append({"amount": new, "proration": False})
            invoice = fixture(
                "invoice",
                id="upcoming_in",
                currency=item["price"]["currency"],
                amount_due=max(0, sum(line["amount"] for line in lines)),
                lines={
                    "object": "list",
                    "data": [
                        {
                            "amount": line["amount"],
                            "parent": {
                                "type": "subscription_item_details",
                                "subscription_item_details": {"proration": line["proration"]},
                            },
                        }
                        for line in lines
                    ],
                },
            )
        return mapping.proration_preview(invoice, proration_date)

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool, *, idempotency_key: str
    ) -> SubscriptionSnapshot:
        def change(sub: dict[str, Any]) -> None:
            sub["cancel_at_period_end"] = cancel
            sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"] if cancel else None

        return self._update(
            "subscriptions.update",
            idempotency_key,
            subscription_id,
            ["cancel_at_period_end", cancel],
            change,
        )

    def cancel_subscription_now(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionSnapshot:
        def change(sub: dict[str, Any]) -> None:
            sub.update(status="canceled", canceled_at=self._ts(), ended_at=self._ts())

        return self._update("subscriptions.cancel", idempotency_key, subscription_id, [], change)

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str
    ) -> CheckoutSession:
        def create() -> dict[str, Any]:
            sid = self._id("cs_test")
            session = fixture(
                "checkout.session",
                id=sid,
                created=self._ts(),
                mode=request.mode.value,
                customer=request.customer_id,
                client_reference_id=request.org_id,
                metadata=dict(request.metadata),
                success_url=request.success_url,
                cancel_url=request.cancel_url,
                status="open",
                payment_status="unpaid",
                url=f"https://checkout.stripe.com/c/pay/{sid}",
                subscription=None,
                payment_intent=None,
            )
            session["line_items_price"] = request.price_id
            self.sessions[sid] = session
            return session

        params = [
            request.customer_id,
            request.org_id,
            request.price_id,
            request.mode.value,
            request.success_url,
            request.cancel_url,
            dict(request.metadata),
        ]
        return mapping.checkout_session(
            self._idempotent("checkout.sessions.create", idempotency_key, params, create)
        )

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        return mapping.checkout_session(
            self._retrieve("checkout.sessions.retrieve", self.sessions, session_id)
        )

    def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """What Stripe does when the customer pays: the session completes and, in subscription
        mode, an active subscription carrying the session's metadata appears."""
        session = self.sessions[session_id]
        session.update(status="complete", payment_status="paid")
        if session["mode"] == CheckoutMode.SUBSCRIPTION.value:
            sub = self.put_subscription(
                session["customer"],
                session["line_items_price"],
                "active",
                metadata=dict(session["metadata"]),
            )
            session["subscription"] = sub["id"]
        else:
            session["payment_intent"] = self._id("pi")
        return copy.deepcopy(session)

    def create_portal_session(
        self, customer_id: str, return_url: str, *, idempotency_key: str
    ) -> str:
        def create() -> str:
            session = fixture(
                "billing_portal.session",
                id=self._id("bps"),
                customer=customer_id,
                return_url=return_url,
            )
            session["url"] = f"https://billing.stripe.com/p/session/{session['id']}"
            return str(session["url"])

        result: str = self._idempotent(
            "billing_portal.sessions.create", idempotency_key, [customer_id, return_url], create
        )
        return result

    def find_prices(self, lookup_keys: Sequence[str]) -> list[PriceInfo]:
        self.calls.append(("prices.list", None))
        return [
            mapping.price_info(p)
            for p in self.prices.values()
            if p.get("lookup_key") in set(lookup_keys) and p.get("active")
        ]

    def ensure_product(self, product_id: str, name: str, *, idempotency_key: str) -> bool:
        self.calls.append(("products.retrieve", None))
        if product_id in self.products:
            return False

        def create() -> bool:
            self.products[product_id] = fixture("product", id=product_id, name=name)
            return True

        created: bool = self._idempotent(
            "products.create", idempotency_key, [product_id, name], create
        )
        return created

    def create_price(self, spec: PriceSpec, *, idempotency_key: str) -> PriceInfo:
        def create() -> dict[str, Any]:
            pid = self.add_price(
                spec.lookup_key,
                spec.unit_amount.amount_minor,
                spec.interval,
                currency=spec.unit_amount.currency,
            )
            self.prices[pid]["product"] = spec.product_id
            return copy.deepcopy(self.prices[pid])

        params = [
            spec.lookup_key,
            spec.product_id,
            spec.unit_amount.amount_minor,
            spec.interval.value,
        ]
        return mapping.price_info(
            self._idempotent("prices.create", idempotency_key, params, create)
        )

    def create_invoice(
        self, customer_id: str, currency: str, metadata: dict[str, str], *, idempotency_key: str
    ) -> InvoiceSnapshot:
        def create() -> dict[str, Any]:
            iid = self._id("in")
            invoice = fixture(
                "invoice",
                id=iid,
                customer=customer_id,
                currency=currency,
                status="draft",
                metadata=dict(metadata),
                parent=None,
                amount_due=0,
                amount_paid=0,
                total=0,
                subtotal=0,
                created=self._ts(),
                hosted_invoice_url=None,
                auto_advance=False,
                collection_method="charge_automatically",
            )
            invoice["lines"] = {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/invoices/{iid}/lines",
            }
            self.invoices[iid] = invoice
            return copy.deepcopy(invoice)

        return mapping.invoice_snapshot(
            self._idempotent(
                "invoices.create", idempotency_key, [customer_id, currency, metadata], create
            )
        )

    def add_invoice_item(
        self,
        customer_id: str,
        invoice_id: str,
        amount: Money,
        description: str,
        metadata: dict[str, str],
        *,
        idempotency_key: str,
    ) -> str:
        def create() -> str:
            invoice = self.invoices[invoice_id]
            if invoice["status"] != "draft":
                raise PaymentProviderRejected("Stripe rejected the request: invoice is not a draft")
            if invoice["customer"] != customer_id:
                raise PaymentProviderRejected(
                    "Stripe rejected the request: the invoice item's "
                    "customer must be the invoice's customer"
                )
            item_id = self._id("ii")
            invoice["lines"]["data"].append(
                {
                    "id": item_id,
                    "amount": amount.amount_minor,
                    "currency": amount.currency,
                    "description": description,
                    "metadata": dict(metadata),
                }
            )
            invoice["amount_due"] += amount.amount_minor
            invoice["total"] += amount.amount_minor
            invoice["subtotal"] += amount.amount_minor
            return item_id

        params = [
            customer_id,
            invoice_id,
            amount.amount_minor,
            amount.currency,
            description,
            metadata,
        ]
        result: str = self._idempotent("invoiceitems.create", idempotency_key, params, create)
        return result

    def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceSnapshot:
        def finalize() -> dict[str, Any]:
            invoice = self.invoices[invoice_id]
            if invoice["status"] == "draft":
                invoice.update(
                    status="open",
                    auto_advance=True,
                    hosted_invoice_url=f"https://invoice.stripe.com/i/{invoice_id}",
                )
            return copy.deepcopy(invoice)

        return mapping.invoice_snapshot(
            self._idempotent("invoices.finalize", idempotency_key, [invoice_id], finalize)
        )

    def pay_invoice(self, invoice_id: str, paid: bool = True) -> dict[str, Any]:
        """What Stripe's automatic collection does later: the invoice is paid or stays open."""
        invoice = self.invoices[invoice_id]
        if paid:
            invoice.update(status="paid", amount_paid=invoice["amount_due"])
        else:
            invoice["attempt_count"] = int(invoice.get("attempt_count") or 0) + 1
        return copy.deepcopy(invoice)

    # -- what Stripe does on its own, and the events it sends ----------------------------
    def put_subscription(
        self,
        customer_id: str,
        price_id: str,
        status: str = "active",
        org_id: str | None = None,
        sub_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create or overwrite a subscription as Stripe would hold it now."""
        sid = sub_id or self._id("sub")
        previous = self.subscriptions.get(sid, {})
        sub = fixture(
            "subscription",
            id=sid,
            customer=customer_id,
            status=status,
            metadata={"org_id": org_id} if org_id else {},
            cancel_at_period_end=False,
            canceled_at=None,
            cancel_at=None,
            ended_at=None,
            start_date=previous.get("start_date", self._ts()),
        )
        sub["items"] = {
            "object": "list",
            "data": [self._item(sid, price_id)],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sid}",
        }
        sub.update(fields)
        with self._lock:
            self.subscriptions[sid] = sub
        return copy.deepcopy(sub)

    def put_invoice(
        self,
        customer_id: str,
        subscription_id: str | None,
        status: str,
        amount: int = 9900,
        invoice_id: str | None = None,
    ) -> dict[str, Any]:
        iid = invoice_id or self._id("in")
        parent = (
            {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": subscription_id},
            }
            if subscription_id
            else None
        )
        invoice = fixture(
            "invoice",
            id=iid,
            customer=customer_id,
            status=status,
            parent=parent,
            amount_due=amount,
            amount_paid=amount if status == "paid" else 0,
            total=amount,
            subtotal=amount,
            created=self._ts(),
            currency="usd",
            hosted_invoice_url=f"https://invoice.stripe.com/i/{iid}",
        )
        invoice["lines"] = {
            "object": "list",
            "data": [{"id": self._id("il"), "amount": amount, "currency": "usd"}],
            "has_more": False,
            "url": f"/v1/invoices/{iid}/lines",
        }
        with self._lock:
            self.invoices[iid] = invoice
        return copy.deepcopy(invoice)

    def event(self, type_: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
        """An event as Stripe delivers it, serialized like Stripe's body."""
        body = fixture(
            "event",
            id=event_id or self._id("evt"),
            type=type_,
            api_version=API_VERSION,
            created=self._ts(),
            livemode=False,
            data={"object": obj, "previous_attributes": None},
            pending_webhooks=1,
            request={"id": None, "idempotency_key": None},
        )
        with self._lock:
            self.events_sent.append(copy.deepcopy(body))
        return json.dumps(body, indent=2).encode()

    # -- what tests look at --------------------------------------------------------------
    def writes(self) -> list[tuple[str, str | None]]:
        return [(op, key) for op, key in self.calls if key is not None]


def catalog_prices(stripe: FakeStripe) -> dict[str, str]:
    """Prices for the default catalog's paid plans, found by their lookup keys."""
    return {
        "starter": stripe.add_price("billing_starter_monthly", 2900, Interval.MONTH),
        "pro": stripe.add_price("billing_pro_monthly", 9900, Interval.MONTH),
        "enterprise": stripe.add_price("billing_enterprise_monthly", 29900, Interval.MONTH),
        "white_label": stripe.add_price("billing_white_label_once", 99900, Interval.ONE_TIME),
    }
