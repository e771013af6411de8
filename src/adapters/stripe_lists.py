"""Stripe's list endpoints for reconciliation, followed page by page with `starting_after`:
one call per page of up to 100 objects, never one retrieve per object."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import stripe

from adapters import stripe_mapping as mapping
from adapters.stripe_errors import plain, translated_errors
from domain.model.payments import CheckoutSession, CustomerInfo, InvoiceSnapshot
from domain.model.subscriptions import SubscriptionSnapshot

if TYPE_CHECKING:
    from stripe._v1_services import V1Services

MAX_PAGE = 100  # Stripe's largest page

Fetch = Callable[[str | None], "stripe.ListObject[Any]"]


def _limit(page_size: int) -> int:
    return max(1, min(MAX_PAGE, page_size))


def pages(fetch: Fetch) -> Iterator[dict[str, Any]]:
    """Every object of a list, as decoded JSON, fetching the next page only when asked to."""
    after: str | None = None
    while True:
        with translated_errors():
            page = fetch(after)
        data = [plain(obj) for obj in page.data]
        yield from data
        if not page.has_more or not data:
            return
        after = str(data[-1]["id"])


class StripeLists:
    """Mixed into the gateway, which sets `v1`."""

    v1: V1Services

    def list_customers(self, *, page_size: int = 100) -> Iterator[CustomerInfo]:
        def fetch(after: str | None) -> stripe.ListObject[stripe.Customer]:
            params: stripe.params.CustomerListParams = {"limit": _limit(page_size)}
            if after:
                params["starting_after"] = after
            return self.v1.customers.list(params)

        return (mapping.customer_info(c) for c in pages(fetch))

    def list_subscriptions(
        self, *, customer_id: str | None = None, page_size: int = 100
    ) -> Iterator[SubscriptionSnapshot]:
        def fetch(after: str | None) -> stripe.ListObject[stripe.Subscription]:
            params: stripe.params.SubscriptionListParams = {
                "limit": _limit(page_size),
                "status": "all",
            }
            if customer_id:
                params["customer"] = customer_id
            if after:
                params["starting_after"] = after
            return self.v1.subscriptions.list(params)

        return (mapping.subscription_snapshot(s) for s in pages(fetch))

    def list_invoices(
        self,
        *,
        created_since: datetime | None = None,
        customer_id: str | None = None,
        page_size: int = 100,
    ) -> Iterator[InvoiceSnapshot]:
        def fetch(after: str | None) -> stripe.ListObject[stripe.Invoice]:
            params: stripe.params.InvoiceListParams = {"limit": _limit(page_size)}
            if created_since is not None:
                params["created"] = {"gte": int(created_since.timestamp())}
            if customer_id:
                params["customer"] = customer_id
            if after:
                params["starting_after"] = after
            return self.v1.invoices.list(params)

        return (mapping.invoice_snapshot(i) for i in pages(fetch))

    def list_completed_checkout_sessions(
        self, *, created_since: datetime, customer_id: str | None = None, page_size: int = 100
    ) -> Iterator[CheckoutSession]:
        def fetch(after: str | None) -> stripe.ListObject[stripe.checkout.Session]:
            params: stripe.params.checkout.SessionListParams = {
                "limit": _limit(page_size),
                "status": "complete",
                "created": {"gte": int(created_since.timestamp())},
            }
            if customer_id:
                params["customer"] = customer_id
            if after:
                params["starting_after"] = after
            return self.v1.checkout.sessions.list(params)

        return (mapping.checkout_session(s) for s in pages(fetch))

    def list_events(
        self, *, created_since: datetime, types: Sequence[str], page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        def fetch(after: str | None) -> stripe.ListObject[stripe.Event]:
            params: stripe.params.EventListParams = {
                "limit": _limit(page_size),
                "created": {"gte": int(created_since.timestamp())},
                "types": list(types),
            }
            if after:
                params["starting_after"] = after
            return self.v1.events.list(params)

        return (json_safe(event) for event in pages(fetch))


def json_safe(obj: dict[str, Any]) -> dict[str, Any]:
    """An event as the JSON Stripe sent: stripe-python decodes `*_decimal` fields to Decimal,
    which the inbox's JSON column cannot hold; Stripe writes them as strings."""
    safe: dict[str, Any] = json.loads(json.dumps(obj, default=_decimal_as_text))
    return safe


def _decimal_as_text(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
