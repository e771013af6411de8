"""The Stripe adapter's list calls, which reconciliation reads: each list followed page by page
with `starting_after`, filtered as asked, replayed from cassettes shaped like Stripe's objects."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from domain.model.money import Money
from domain.model.payments import PriceSpec
from domain.model.plans import Interval, Tier
from domain.model.subscriptions import SubscriptionStatus

SINCE = datetime(2025, 11, 1, tzinfo=UTC)  # fixed: the query is part of each recorded request


def _account(stripe) -> tuple[list[str], list[str]]:
    """Three customers, each with a Pro subscription (and its first invoice)."""
    stripe.ensure_product("billing_lists_pro", "Pro", idempotency_key="product-create:lists")
    price = stripe.create_price(
        PriceSpec(
            "billing_lists_pro_monthly",
            "billing_lists_pro",
            "Pro",
            Money(9900, "usd"),
            Interval.MONTH,
            Tier.PRO,
        ),
        idempotency_key="price-create:lists-pro",
    )
    customers, subscriptions = [], []
    for n in range(3):
        org_id = f"org_list_{n}"
        customer = stripe.create_customer(
            org_id, None, None, idempotency_key=f"customer-create:{org_id}"
        )
        intent = stripe.create_subscription(
            customer,
            price.id,
            {"org_id": org_id, "plan_tier": "pro"},
            idempotency_key=f"subscription-create:{org_id}:1",
        )
        customers.append(customer)
        subscriptions.append(intent.snapshot.stripe_subscription_id)
    return customers, subscriptions


def _gets(contract) -> Counter[str]:
    """The list calls made (retrieves of the set-up's product are not lists)."""
    return Counter(
        path
        for method, path, _ in contract.sent.requests
        if method == "GET" and not path.startswith("/v1/products/")
    )


def test_lists_are_followed_page_by_page(contract):
    stripe = contract.gateway()
    customers, subscriptions = _account(stripe)

    listed = list(stripe.list_customers(page_size=2))
    assert [c.id for c in listed] == customers[::-1]  # newest first
    assert [c.org_id for c in listed] == ["org_list_2", "org_list_1", "org_list_0"]

    subs = list(stripe.list_subscriptions(page_size=2))
    assert [s.stripe_subscription_id for s in subs] == subscriptions[::-1]
    assert {s.status for s in subs} == {SubscriptionStatus.INCOMPLETE}
    assert all(s.current_period_end and s.stripe_price_id for s in subs)

    invoices = list(stripe.list_invoices(created_since=SINCE, page_size=2))
    assert len(invoices) == 3
    assert {i.parent_type for i in invoices} == {"subscription_details"}
    assert {i.subscription_id for i in invoices} == set(subscriptions)
    assert all(i.total is not None and i.created is not None for i in invoices)

    events = list(
        stripe.list_events(
            created_since=SINCE, types=["customer.subscription.created"], page_size=2
        )
    )
    assert [e["data"]["object"]["id"] for e in events] == subscriptions[::-1]
    assert all(e["api_version"] and e["type"] == "customer.subscription.created" for e in events)
    # As Stripe sent them: the inbox stores them as JSON (a price's decimal amount as text).
    price = events[0]["data"]["object"]["items"]["data"][0]["price"]
    assert price["unit_amount_decimal"] == "9900" and json.loads(json.dumps(events)) == events

    # Three objects by two: two calls each, the second with `starting_after` (cassette query).
    gets = _gets(contract)
    assert gets["/v1/customers"] == gets["/v1/subscriptions"] == 2
    assert gets["/v1/invoices"] == gets["/v1/events"] == 2
    assert not [p for p in gets if p.startswith("/v1/subscriptions/")]  # no retrieve


def test_lists_filtered_by_customer_and_a_full_page_ends_without_an_extra_call(contract):
    stripe = contract.gateway()
    customers, subscriptions = _account(stripe)
    mine = list(stripe.list_subscriptions(customer_id=customers[1], page_size=100))
    assert [s.stripe_subscription_id for s in mine] == [subscriptions[1]]
    assert [i.customer_id for i in stripe.list_invoices(customer_id=customers[1])] == [customers[1]]
    sessions = list(
        stripe.list_completed_checkout_sessions(created_since=SINCE, customer_id=customers[1])
    )
    assert sessions == []
    assert len(list(stripe.list_customers(page_size=3))) == 3
    gets = _gets(contract)
    # has_more false on a full last page: one call per list.
    assert gets == {
        "/v1/subscriptions": 1,
        "/v1/invoices": 1,
        "/v1/checkout/sessions": 1,
        "/v1/customers": 1,
    }
