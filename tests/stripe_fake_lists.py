"""The fake Stripe's list endpoints: pages of `page_size` (at most 100) objects, newest first,
each page one call in `calls`, filtered as Stripe filters them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from adapters import stripe_mapping as mapping
from domain.model.payments import CheckoutSession, CustomerInfo, InvoiceSnapshot
from domain.model.subscriptions import SubscriptionSnapshot


class FakeStripeLists:
    customers: dict[str, dict[str, Any]]
    subscriptions: dict[str, dict[str, Any]]
    sessions: dict[str, dict[str, Any]]
    invoices: dict[str, dict[str, Any]]
    events_sent: list[dict[str, Any]]
    calls: list[tuple[str, str | None]]
    _lock: Any

    def _pages(
        self,
        op: str,
        store: Callable[[], list[dict[str, Any]]],
        keep: Callable[[dict[str, Any]], bool],
        page_size: int,
    ) -> Iterator[dict[str, Any]]:
        size = max(1, min(100, page_size))
        after: str | None = None
        while True:
            with self._lock:
                self.calls.append((op, None))
                found = [copy.deepcopy(o) for o in reversed(store()) if keep(o)]
            start = 0
            if after is not None:
                start = next(i for i, o in enumerate(found) if o["id"] == after) + 1
            page = found[start : start + size]
            yield from page
            if start + size >= len(found) or not page:
                return
            after = page[-1]["id"]

    def list_customers(self, *, page_size: int = 100) -> Iterator[CustomerInfo]:
        return (
            mapping.customer_info(c)
            for c in self._pages(
                "customers.list",
                lambda: list(self.customers.values()),
                lambda c: not c.get("deleted"),
                page_size,
            )
        )

    def list_subscriptions(
        self, *, customer_id: str | None = None, page_size: int = 100
    ) -> Iterator[SubscriptionSnapshot]:
        return (
            mapping.subscription_snapshot(s)
            for s in self._pages(
                "subscriptions.list",
                lambda: list(self.subscriptions.values()),
                lambda s: customer_id is None or s["customer"] == customer_id,
                page_size,
            )
        )

    def list_invoices(
        self,
        *,
        created_since: datetime | None = None,
        customer_id: str | None = None,
        page_size: int = 100,
    ) -> Iterator[InvoiceSnapshot]:
        since = int(created_since.timestamp()) if created_since else None
        return (
            mapping.invoice_snapshot(i)
            for i in self._pages(
                "invoices.list",
                lambda: list(self.invoices.values()),
                lambda i: (
                    (customer_id is None or i["customer"] == customer_id)
                    and (since is None or int(i["created"]) >= since)
                ),
                page_size,
            )
        )

    def list_completed_checkout_sessions(
        self, *, created_since: datetime, customer_id: str | None = None, page_size: int = 100
    ) -> Iterator[CheckoutSession]:
        since = int(created_since.timestamp())
        return (
            mapping.checkout_session(s)
            for s in self._pages(
                "checkout.sessions.list",
                lambda: list(self.sessions.values()),
                lambda s: (
                    s["status"] == "complete"
                    and int(s["created"]) >= since
                    and (customer_id is None or s["customer"] == customer_id)
                ),
                page_size,
            )
        )

    def list_events(
        self, *, created_since: datetime, types: Sequence[str], page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        since = int(created_since.timestamp())
        return self._pages(
            "events.list",
            lambda: list(self.events_sent),
            lambda e: e["type"] in types and int(e["created"]) >= since,
            page_size,
        )
