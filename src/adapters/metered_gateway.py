"""The payment gateway, timed: each call reports its operation, outcome and duration to an
observer (the entrypoints' metrics). Behaviour is the wrapped gateway's, errors included."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from domain.errors import DomainError
from domain.model.money import Money
from domain.model.payments import (
    CheckoutRequest,
    CheckoutSession,
    CustomerInfo,
    InvoiceSnapshot,
    PriceInfo,
    PriceSpec,
    ProrationBehavior,
    ProrationPreview,
    SubscriptionIntent,
)
from domain.model.subscriptions import SubscriptionSnapshot
from domain.ports import PaymentGateway

T = TypeVar("T")

# (operation, status, seconds): status is "ok" or the error's stable code (a bounded set).
Observer = Callable[[str, str, float], None]


class MeteredGateway:
    def __init__(self, inner: PaymentGateway, observe: Observer) -> None:
        self.inner = inner
        self.observe = observe

    def _call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        status = "error"
        try:
            result = fn(*args, **kwargs)
            status = "ok"
            return result
        except DomainError as exc:
            status = exc.code
            raise
        finally:
            self.observe(operation, status, time.perf_counter() - started)

    def _pages(self, operation: str, items: Iterator[T]) -> Iterator[T]:
        """A list followed to its end (or its failure) counts as one call of its operation."""
        started = time.perf_counter()
        status = "error"
        try:
            yield from items
            status = "ok"
        except DomainError as exc:
            status = exc.code
            raise
        finally:
            self.observe(operation, status, time.perf_counter() - started)

    def create_customer(
        self, org_id: str, email: str | None, name: str | None, *, idempotency_key: str
    ) -> str:
        return self._call(
            "create_customer",
            self.inner.create_customer,
            org_id,
            email,
            name,
            idempotency_key=idempotency_key,
        )

    def update_customer(
        self, customer_id: str, email: str | None, name: str | None, *, idempotency_key: str
    ) -> None:
        self._call(
            "update_customer",
            self.inner.update_customer,
            customer_id,
            email,
            name,
            idempotency_key=idempotency_key,
        )

    def create_subscription(
        self, customer_id: str, price_id: str, metadata: dict[str, str], *, idempotency_key: str
    ) -> SubscriptionIntent:
        return self._call(
            "create_subscription",
            self.inner.create_subscription,
            customer_id,
            price_id,
            metadata,
            idempotency_key=idempotency_key,
        )

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionSnapshot:
        return self._call(
            "retrieve_subscription", self.inner.retrieve_subscription, subscription_id
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
        return self._call(
            "change_subscription_price",
            self.inner.change_subscription_price,
            subscription_id,
            price_id,
            proration,
            idempotency_key=idempotency_key,
            proration_date=proration_date,
        )

    def preview_subscription_change(
        self,
        subscription_id: str,
        price_id: str,
        proration: ProrationBehavior,
        proration_date: int,
    ) -> ProrationPreview:
        return self._call(
            "preview_subscription_change",
            self.inner.preview_subscription_change,
            subscription_id,
            price_id,
            proration,
            proration_date,
        )

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool, *, idempotency_key: str
    ) -> SubscriptionSnapshot:
        return self._call(
            "set_cancel_at_period_end",
            self.inner.set_cancel_at_period_end,
            subscription_id,
            cancel,
            idempotency_key=idempotency_key,
        )

    def cancel_subscription_now(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionSnapshot:
        return self._call(
            "cancel_subscription_now",
            self.inner.cancel_subscription_now,
            subscription_id,
            idempotency_key=idempotency_key,
        )

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str
    ) -> CheckoutSession:
        return self._call(
            "create_checkout_session",
            self.inner.create_checkout_session,
            request,
            idempotency_key=idempotency_key,
        )

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        return self._call(
            "retrieve_checkout_session", self.inner.retrieve_checkout_session, session_id
        )

    def retrieve_invoice(self, invoice_id: str) -> InvoiceSnapshot:
        return self._call("retrieve_invoice", self.inner.retrieve_invoice, invoice_id)

    def create_portal_session(
        self, customer_id: str, return_url: str, *, idempotency_key: str
    ) -> str:
        return self._call(
            "create_portal_session",
            self.inner.create_portal_session,
            customer_id,
            return_url,
            idempotency_key=idempotency_key,
        )

    def find_prices(self, lookup_keys: Sequence[str]) -> list[PriceInfo]:
        return self._call("find_prices", self.inner.find_prices, lookup_keys)

    def ensure_product(self, product_id: str, name: str, *, idempotency_key: str) -> bool:
        return self._call(
            "ensure_product",
            self.inner.ensure_product,
            product_id,
            name,
            idempotency_key=idempotency_key,
        )

    def create_price(self, spec: PriceSpec, *, idempotency_key: str) -> PriceInfo:
        return self._call(
            "create_price", self.inner.create_price, spec, idempotency_key=idempotency_key
        )

    def create_invoice(
        self, customer_id: str, currency: str, metadata: dict[str, str], *, idempotency_key: str
    ) -> InvoiceSnapshot:
        return self._call(
            "create_invoice",
            self.inner.create_invoice,
            customer_id,
            currency,
            metadata,
            idempotency_key=idempotency_key,
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
        return self._call(
            "add_invoice_item",
            self.inner.add_invoice_item,
            customer_id,
            invoice_id,
            amount,
            description,
            metadata,
            idempotency_key=idempotency_key,
        )

    def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceSnapshot:
        return self._call(
            "finalize_invoice",
            self.inner.finalize_invoice,
            invoice_id,
            idempotency_key=idempotency_key,
        )

    def list_customers(self, *, page_size: int = 100) -> Iterator[CustomerInfo]:
        return self._pages("list_customers", self.inner.list_customers(page_size=page_size))

    def list_subscriptions(
        self, *, customer_id: str | None = None, page_size: int = 100
    ) -> Iterator[SubscriptionSnapshot]:
        return self._pages(
            "list_subscriptions",
            self.inner.list_subscriptions(customer_id=customer_id, page_size=page_size),
        )

    def list_invoices(
        self,
        *,
        created_since: datetime | None = None,
        customer_id: str | None = None,
        page_size: int = 100,
    ) -> Iterator[InvoiceSnapshot]:
        return self._pages(
            "list_invoices",
            self.inner.list_invoices(
                created_since=created_since, customer_id=customer_id, page_size=page_size
            ),
        )

    def list_completed_checkout_sessions(
        self, *, created_since: datetime, customer_id: str | None = None, page_size: int = 100
    ) -> Iterator[CheckoutSession]:
        return self._pages(
            "list_completed_checkout_sessions",
            self.inner.list_completed_checkout_sessions(
                created_since=created_since, customer_id=customer_id, page_size=page_size
            ),
        )

    def list_events(
        self, *, created_since: datetime, types: Sequence[str], page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        return self._pages(
            "list_events",
            self.inner.list_events(created_since=created_since, types=types, page_size=page_size),
        )
