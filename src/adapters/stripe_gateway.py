"""The PaymentGateway on Stripe, through stripe-python's StripeClient.

The API version is the one pinned by the installed stripe-python (`stripe.api_version`); every
write carries an idempotency key derived from our own ids (never a random one), and every Stripe
error becomes a domain error. Objects are read with the field paths of that API version: the
billing period lives on subscription items, and an invoice's confirmation secret replaces its
payment intent.
"""

from __future__ import annotations

from collections.abc import Sequence

import stripe

from adapters import stripe_mapping as mapping
from adapters.stripe_errors import plain, translated_errors
from adapters.stripe_http import PacedHTTPClient, Pacing
from adapters.stripe_lists import StripeLists
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

API_VERSION: str = stripe.api_version


def make_stripe_client(
    api_key: str,
    *,
    api_base: str | None = None,
    timeout_s: float = 20.0,
    max_network_retries: int = 2,
    http_client: stripe.HTTPClient | None = None,
    pacing: Pacing | None = None,
) -> stripe.StripeClient:
    """Network retries on (stripe-python retries connection errors, 409 and 5xx with backoff,
    reusing the idempotency key), a bounded timeout, an optional base URL (stripe-mock, a proxy);
    with `pacing`, every attempt waits for a slot under the rate limit and a 429 is retried
    (adapters.stripe_http)."""
    http_client = http_client or stripe.RequestsClient(timeout=timeout_s)
    if pacing is not None:
        http_client = PacedHTTPClient(http_client, pacing)
    if api_base:
        return stripe.StripeClient(
            api_key,
            stripe_version=API_VERSION,
            base_addresses={"api": api_base},
            max_network_retries=max_network_retries,
            http_client=http_client,
        )
    return stripe.StripeClient(
        api_key,
        stripe_version=API_VERSION,
        max_network_retries=max_network_retries,
        http_client=http_client,
    )


def _opts(idempotency_key: str) -> stripe.RequestOptions:
    return {"idempotency_key": idempotency_key}


class StripeGateway(StripeLists):
    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client
        self.v1 = client.v1

    def create_customer(
        self, org_id: str, email: str | None, name: str | None, *, idempotency_key: str
    ) -> str:
        params: stripe.params.CustomerCreateParams = {"metadata": {"org_id": org_id}}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        with translated_errors():
            return self.v1.customers.create(params, _opts(idempotency_key)).id

    def update_customer(
        self, customer_id: str, email: str | None, name: str | None, *, idempotency_key: str
    ) -> None:
        params: stripe.params.CustomerUpdateParams = {}
        if email is not None:
            params["email"] = email
        if name is not None:
            params["name"] = name
        with translated_errors():
            self.v1.customers.update(customer_id, params, _opts(idempotency_key))

    def create_subscription(
        self, customer_id: str, price_id: str, metadata: dict[str, str], *, idempotency_key: str
    ) -> SubscriptionIntent:
        params: stripe.params.SubscriptionCreateParams = {
            "customer": customer_id,
            "items": [{"price": price_id, "quantity": 1}],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "metadata": metadata,
            "expand": ["latest_invoice.confirmation_secret"],
        }
        with translated_errors():
            sub = self.v1.subscriptions.create(params, _opts(idempotency_key))
        return mapping.subscription_intent(plain(sub))

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionSnapshot:
        with translated_errors():
            sub = self.v1.subscriptions.retrieve(subscription_id)
        return mapping.subscription_snapshot(plain(sub))

    def change_subscription_price(
        self,
        subscription_id: str,
        price_id: str,
        proration: ProrationBehavior,
        *,
        idempotency_key: str,
        proration_date: int | None = None,
    ) -> SubscriptionSnapshot:
        with translated_errors():
            current = self.v1.subscriptions.retrieve(subscription_id)
            item_id = mapping.first_item(plain(current))["id"]
            params: stripe.params.SubscriptionUpdateParams = {
                "items": [{"id": item_id, "price": price_id, "quantity": 1}],
                "proration_behavior": proration.value,
            }
            if proration_date is not None:  # the preview's date: charged as shown
                params["proration_date"] = proration_date
            sub = self.v1.subscriptions.update(subscription_id, params, _opts(idempotency_key))
        return mapping.subscription_snapshot(plain(sub))

    def preview_subscription_change(
        self,
        subscription_id: str,
        price_id: str,
        proration: ProrationBehavior,
        proration_date: int,
    ) -> ProrationPreview:
        with translated_errors():
            current = self.v1.subscriptions.retrieve(subscription_id)
            item_id = mapping.first_item(plain(current))["id"]
            params: stripe.params.InvoiceCreatePreviewParams = {
                "subscription": subscription_id,
                "subscription_details": {
                    "items": [{"id": item_id, "price": price_id, "quantity": 1}],
                    "proration_behavior": proration.value,
                    "proration_date": proration_date,
                },
            }
            invoice = self.v1.invoices.create_preview(params)
        return mapping.proration_preview(plain(invoice), proration_date)

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool, *, idempotency_key: str
    ) -> SubscriptionSnapshot:
        params: stripe.params.SubscriptionUpdateParams = {"cancel_at_period_end": cancel}
        with translated_errors():
            sub = self.v1.subscriptions.update(subscription_id, params, _opts(idempotency_key))
        return mapping.subscription_snapshot(plain(sub))

    def cancel_subscription_now(
        self, subscription_id: str, *, idempotency_key: str
    ) -> SubscriptionSnapshot:
        with translated_errors():
            sub = self.v1.subscriptions.cancel(subscription_id, None, _opts(idempotency_key))
        return mapping.subscription_snapshot(plain(sub))

    def create_checkout_session(
        self, request: CheckoutRequest, *, idempotency_key: str
    ) -> CheckoutSession:
        metadata = dict(request.metadata)
        params: stripe.params.checkout.SessionCreateParams = {
            "mode": request.mode.value,
            "customer": request.customer_id,
            "line_items": [{"price": request.price_id, "quantity": 1}],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": request.org_id,
            "metadata": metadata,
        }
        if request.mode is CheckoutMode.SUBSCRIPTION:
            params["subscription_data"] = {"metadata": metadata}
        else:
            params["payment_intent_data"] = {"metadata": metadata}
        with translated_errors():
            session = self.v1.checkout.sessions.create(params, _opts(idempotency_key))
        return mapping.checkout_session(plain(session))

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        with translated_errors():
            session = self.v1.checkout.sessions.retrieve(session_id)
        return mapping.checkout_session(plain(session))

    def retrieve_invoice(self, invoice_id: str) -> InvoiceSnapshot:
        with translated_errors():
            invoice = self.v1.invoices.retrieve(invoice_id)
        return mapping.invoice_snapshot(plain(invoice))

    def create_invoice(
        self, customer_id: str, currency: str, metadata: dict[str, str], *, idempotency_key: str
    ) -> InvoiceSnapshot:
        params: stripe.params.InvoiceCreateParams = {
            "customer": customer_id,
            "currency": currency,
            "collection_method": "charge_automatically",
            "auto_advance": False,  # finalized by us once its items are in
            "pending_invoice_items_behavior": "exclude",
            "metadata": metadata,
        }
        with translated_errors():
            invoice = self.v1.invoices.create(params, _opts(idempotency_key))
        return mapping.invoice_snapshot(plain(invoice))

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
        params: stripe.params.InvoiceItemCreateParams = {
            "customer": customer_id,
            "invoice": invoice_id,
            "amount": amount.amount_minor,
            "currency": amount.currency,
            "description": description,
            "metadata": metadata,
        }
        with translated_errors():
            return self.v1.invoice_items.create(params, _opts(idempotency_key)).id

    def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> InvoiceSnapshot:
        params: stripe.params.InvoiceFinalizeInvoiceParams = {"auto_advance": True}
        with translated_errors():
            invoice = self.v1.invoices.finalize_invoice(invoice_id, params, _opts(idempotency_key))
        return mapping.invoice_snapshot(plain(invoice))

    def create_portal_session(
        self, customer_id: str, return_url: str, *, idempotency_key: str
    ) -> str:
        params: stripe.params.billing_portal.SessionCreateParams = {
            "customer": customer_id,
            "return_url": return_url,
        }
        with translated_errors():
            return self.v1.billing_portal.sessions.create(params, _opts(idempotency_key)).url

    def find_prices(self, lookup_keys: Sequence[str]) -> list[PriceInfo]:
        if not lookup_keys:
            return []
        params: stripe.params.PriceListParams = {
            "lookup_keys": list(lookup_keys),
            "active": True,
            "limit": 100,
        }
        with translated_errors():
            prices = self.v1.prices.list(params)
        return [mapping.price_info(plain(p)) for p in prices.data]

    def ensure_product(self, product_id: str, name: str, *, idempotency_key: str) -> bool:
        with translated_errors():
            try:
                self.v1.products.retrieve(product_id)
                return False
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
            params: stripe.params.ProductCreateParams = {"id": product_id, "name": name}
            self.v1.products.create(params, _opts(idempotency_key))
            return True

    def create_price(self, spec: PriceSpec, *, idempotency_key: str) -> PriceInfo:
        params: stripe.params.PriceCreateParams = {
            "product": spec.product_id,
            "unit_amount": spec.unit_amount.amount_minor,
            "currency": spec.unit_amount.currency,
            "lookup_key": spec.lookup_key,
            "transfer_lookup_key": True,
            "metadata": {"plan_tier": spec.tier.value},
        }
        if spec.interval is Interval.MONTH:
            params["recurring"] = {"interval": "month"}
        with translated_errors():
            return mapping.price_info(plain(self.v1.prices.create(params, _opts(idempotency_key))))
