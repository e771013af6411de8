"""Every call of the Stripe adapter, replayed from cassettes shaped like Stripe's own objects."""

from __future__ import annotations

import pytest

from domain.errors import PaymentDeclined, PaymentProviderAuthFailed, PaymentProviderRejected
from domain.model.money import Money
from domain.model.payments import CheckoutMode, CheckoutRequest, PriceSpec, ProrationBehavior
from domain.model.plans import Interval, Tier
from domain.model.subscriptions import SubscriptionStatus
from tests.contract.conftest import MODE
from tests.contract.stripe_stub import BAD_KEY

STUB_ONLY = pytest.mark.skipif(
    MODE == "stripe",
    reason="needs a Stripe account set up to fail this way; replayed from "
    "Stripe's documented error shape",
)


def test_catalog_customer_subscription_checkout_and_portal(contract):
    stripe = contract.gateway()
    assert (
        stripe.ensure_product(
            "billing_contract_pro", "Pro", idempotency_key="product-create:billing_contract_pro"
        )
        is True
    )
    assert (
        stripe.ensure_product(
            "billing_contract_pro", "Pro", idempotency_key="product-create:billing_contract_pro"
        )
        is False
    )
    pro = stripe.create_price(
        PriceSpec(
            "billing_contract_pro_monthly",
            "billing_contract_pro",
            "Pro",
            Money(9900, "usd"),
            Interval.MONTH,
            Tier.PRO,
        ),
        idempotency_key="price-create:pro",
    )
    starter = stripe.create_price(
        PriceSpec(
            "billing_contract_starter_monthly",
            "billing_contract_pro",
            "Starter",
            Money(2900, "usd"),
            Interval.MONTH,
            Tier.STARTER,
        ),
        idempotency_key="price-create:starter",
    )
    once = stripe.create_price(
        PriceSpec(
            "billing_contract_white_label_once",
            "billing_contract_pro",
            "White-Label",
            Money(99900, "usd"),
            Interval.ONE_TIME,
            Tier.WHITE_LABEL,
        ),
        idempotency_key="price-create:white_label",
    )
    assert (pro.unit_amount, pro.interval) == (Money(9900, "usd"), Interval.MONTH)
    assert once.interval is Interval.ONE_TIME
    found = {
        p.lookup_key: p
        for p in stripe.find_prices(
            [
                "billing_contract_pro_monthly",
                "billing_contract_starter_monthly",
                "billing_contract_white_label_once",
            ]
        )
    }
    assert found["billing_contract_pro_monthly"].id == pro.id
    assert found["billing_contract_starter_monthly"].id == starter.id

    customer = stripe.create_customer(
        "org_contract", None, None, idempotency_key="customer-create:org_contract"
    )
    assert customer.startswith("cus_")
    stripe.update_customer(
        customer,
        "billing@example.com",
        "Contract Co",
        idempotency_key="customer-update:org_contract:1",
    )

    intent = stripe.create_subscription(
        customer,
        pro.id,
        {"org_id": "org_contract"},
        idempotency_key="subscription-create:org_contract:1",
    )
    snap = intent.snapshot
    assert snap.status is SubscriptionStatus.INCOMPLETE
    assert snap.stripe_customer_id == customer and snap.stripe_price_id == pro.id
    assert snap.org_id == "org_contract"
    assert intent.client_secret and intent.latest_invoice_id
    assert snap.current_period_start and snap.current_period_end  # from the item
    assert snap.current_period_start < snap.current_period_end

    invoice = stripe.retrieve_invoice(intent.latest_invoice_id)
    assert invoice.subscription_id == snap.stripe_subscription_id  # parent.subscription_details
    assert invoice.customer_id == customer and invoice.status == "open"
    again = stripe.retrieve_subscription(snap.stripe_subscription_id)
    assert again.stripe_subscription_id == snap.stripe_subscription_id
    changed = stripe.change_subscription_price(
        snap.stripe_subscription_id,
        starter.id,
        ProrationBehavior.CREATE_PRORATIONS,
        idempotency_key="subscription-change:1",
    )
    assert changed.stripe_price_id == starter.id
    assert (
        stripe.set_cancel_at_period_end(
            snap.stripe_subscription_id, True, idempotency_key="subscription-cancel:1"
        ).cancel_at_period_end
        is True
    )
    assert (
        stripe.set_cancel_at_period_end(
            snap.stripe_subscription_id, False, idempotency_key="subscription-resume:1"
        ).cancel_at_period_end
        is False
    )
    canceled = stripe.cancel_subscription_now(
        snap.stripe_subscription_id, idempotency_key="subscription-cancel:2"
    )
    assert canceled.status is SubscriptionStatus.CANCELED and canceled.canceled_at

    session = stripe.create_checkout_session(
        CheckoutRequest(
            customer,
            "org_contract",
            pro.id,
            CheckoutMode.SUBSCRIPTION,
            "https://app.example.com/ok",
            "https://app.example.com/no",
            {"org_id": "org_contract", "plan_tier": "pro"},
        ),
        idempotency_key="checkout-create:chk_1",
    )
    assert session.url and session.client_reference_id == "org_contract"
    assert session.metadata["org_id"] == "org_contract"
    payment = stripe.create_checkout_session(
        CheckoutRequest(
            customer,
            "org_contract",
            once.id,
            CheckoutMode.PAYMENT,
            "https://app.example.com/ok",
            "https://app.example.com/no",
            {"org_id": "org_contract", "purchase_id": "pur_1"},
        ),
        idempotency_key="purchase-checkout:pur_1",
    )
    assert payment.id != session.id
    assert stripe.retrieve_checkout_session(payment.id).metadata["purchase_id"] == "pur_1"
    portal = stripe.create_portal_session(
        customer,
        "https://app.example.com/settings",
        idempotency_key="portal:org_contract:x:202611211200",
    )
    assert portal.startswith("https://")

    writes = [(m, key) for m, _, key in contract.sent.requests if m in ("POST", "DELETE")]
    assert all(key for _, key in writes), writes  # every write carried our key
    assert [key for _, key in writes][:3] == [
        "product-create:billing_contract_pro",
        "price-create:pro",
        "price-create:starter",
    ]
    reads = [key for m, _, key in contract.sent.requests if m == "GET"]
    assert reads and all(key is None for key in reads)


def test_a_revoked_key_is_stripe_auth_failed_without_echoing_it(contract):
    with pytest.raises(PaymentProviderAuthFailed) as info:
        contract.gateway(api_key=BAD_KEY).create_customer(
            "org_contract", None, None, idempotency_key="customer-create:org_revoked"
        )
    assert info.value.code == "stripe_auth_failed"
    assert BAD_KEY not in info.value.message and "sk_" not in info.value.message


def test_an_unknown_price_is_stripe_rejected_with_stripes_message(contract):
    stripe = contract.gateway()
    customer = stripe.create_customer(
        "org_contract", None, None, idempotency_key="customer-create:org_rejected"
    )
    with pytest.raises(PaymentProviderRejected) as info:
        stripe.create_subscription(
            customer,
            "price_does_not_exist",
            {},
            idempotency_key="subscription-create:org_rejected:1",
        )
    assert "No such price" in info.value.message


@STUB_ONLY
def test_a_card_decline_is_card_declined_with_its_decline_code(contract):
    stripe = contract.gateway()
    stripe.ensure_product(
        "billing_contract_decline", "Pro", idempotency_key="product-create:decline"
    )
    price = stripe.create_price(
        PriceSpec(
            "billing_contract_decline",
            "billing_contract_decline",
            "Pro",
            Money(9900, "usd"),
            Interval.MONTH,
            Tier.PRO,
        ),
        idempotency_key="price-create:decline",
    )
    with pytest.raises(PaymentDeclined) as info:
        stripe.create_subscription(
            "cus_card_declined", price.id, {}, idempotency_key="subscription-create:org_declined:1"
        )
    assert info.value.details["decline_code"] == "insufficient_funds"


@STUB_ONLY
def test_a_server_error_is_retried_with_the_same_idempotency_key(contract):
    stripe = contract.gateway(retries=1)
    stripe.ensure_product("billing_contract_retry", "Pro", idempotency_key="product-create:retry")
    price = stripe.create_price(
        PriceSpec(
            "billing_contract_retry",
            "billing_contract_retry",
            "Pro",
            Money(9900, "usd"),
            Interval.MONTH,
            Tier.PRO,
        ),
        idempotency_key="price-create:retry",
    )
    customer = stripe.create_customer(
        "org_retry", None, None, idempotency_key="customer-create:org_retry"
    )
    if contract.stub is not None:
        contract.stub.config["failures"]["subscriptions"] = 1
    intent = stripe.create_subscription(
        customer, price.id, {}, idempotency_key="subscription-create:org_retry:1"
    )
    assert intent.snapshot.status is SubscriptionStatus.INCOMPLETE
    attempts = [key for m, path, key in contract.sent.requests if path == "/v1/subscriptions"]
    assert attempts == ["subscription-create:org_retry:1"] * 2


def test_a_usage_invoice_created_itemized_and_finalized(contract):
    stripe = contract.gateway()
    customer = stripe.create_customer(
        "org_invoice", None, None, idempotency_key="customer-create:org_invoice"
    )
    meta = {"usage_invoice_id": "uinv_1", "org_id": "org_invoice"}
    draft = stripe.create_invoice(customer, "usd", meta, idempotency_key="usage-invoice:uinv_1")
    assert draft.status == "draft" and draft.customer_id == customer
    item = stripe.add_invoice_item(
        customer,
        draft.id,
        Money(1235, "usd"),
        "12,345 speech-to-text words",
        {**meta, "metric": "stt_words"},
        idempotency_key="usage-invoice-item:uinv_1:stt_words",
    )
    assert item.startswith("ii_")
    final = stripe.finalize_invoice(draft.id, idempotency_key="usage-invoice-finalize:uinv_1")
    assert final.status == "open" and final.hosted_invoice_url
    assert final.amount_due == Money(1235, "usd")
    assert [key for _, _, key in contract.sent.requests] == [
        "customer-create:org_invoice",
        "usage-invoice:uinv_1",
        "usage-invoice-item:uinv_1:stt_words",
        "usage-invoice-finalize:uinv_1",
    ]


def test_a_plan_change_previewed_then_made_at_the_previews_date(contract):
    stripe = contract.gateway()
    prices = {
        tier: stripe.create_price(
            PriceSpec(
                f"billing_preview_{tier.value}_monthly",
                "billing_preview",
                tier.value,
                Money(amount, "usd"),
                Interval.MONTH,
                tier,
            ),
            idempotency_key=f"price-create:preview:{tier.value}",
        )
        for tier, amount in ((Tier.STARTER, 2900), (Tier.PRO, 9900))
    }
    customer = stripe.create_customer(
        "org_preview", None, None, idempotency_key="customer-create:org_preview"
    )
    intent = stripe.create_subscription(
        customer,
        prices[Tier.STARTER].id,
        {"org_id": "org_preview"},
        idempotency_key="subscription-create:org_preview:1",
    )
    sub = intent.snapshot
    assert sub.current_period_start and sub.current_period_end
    # Halfway through the period: $70 of difference for half a month.
    halfway = int((sub.current_period_start.timestamp() + sub.current_period_end.timestamp()) // 2)
    preview = stripe.preview_subscription_change(
        sub.stripe_subscription_id, prices[Tier.PRO].id, ProrationBehavior.ALWAYS_INVOICE, halfway
    )
    assert preview.prorations == Money(3500, "usd") == preview.invoice_total
    assert preview.proration_date == halfway
    changed = stripe.change_subscription_price(
        sub.stripe_subscription_id,
        prices[Tier.PRO].id,
        ProrationBehavior.ALWAYS_INVOICE,
        idempotency_key="subscription-change:preview:1",
        proration_date=halfway,
    )
    assert changed.stripe_price_id == prices[Tier.PRO].id
    paths = [(method, path) for method, path, _ in contract.sent.requests]
    assert ("POST", "/v1/invoices/create_preview") in paths
