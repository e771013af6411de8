"""A local HTTP stand-in for the Stripe API, used only to build the contract cassettes.

It answers with Stripe's own published fixture objects (tests/fixtures/stripe/objects.json)
adjusted to the request, so the cassettes hold Stripe's documented shapes for the pinned API
version. Re-recording against a Stripe test-mode account replaces these with real answers.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from adapters.stripe_gateway import API_VERSION
from tests.stripe_fake import fixture

BAD_KEY = "sk_test_revoked"


def _error(status: int, type_: str, message: str, **extra: Any) -> Any:
    response = jsonify({"error": {"type": type_, "message": message, **extra}})
    response.status_code = status
    return response


def build_stub() -> Flask:
    app = Flask("stripe_stub")
    ids = itertools.count(1)
    state: dict[str, dict[str, Any]] = {
        "products": {},
        "prices": {},
        "customers": {},
        "subscriptions": {},
        "sessions": {},
        "invoices": {},
        "events": {},
    }
    failures: dict[str, int] = {}
    clock = itertools.count(1763726400, 60)  # `created` of each new object: one a minute

    def new_id(prefix: str) -> str:
        return f"{prefix}_Contract{next(ids):04d}"

    def form() -> dict[str, str]:
        return request.form.to_dict()

    def metadata(values: dict[str, str], prefix: str = "metadata") -> dict[str, str]:
        return {
            k[len(prefix) + 1 : -1]: v
            for k, v in values.items()
            if k.startswith(prefix + "[") and k.count("[") == 1
        }

    @app.before_request
    def _auth() -> Any:
        if request.headers.get("Authorization") == f"Bearer {BAD_KEY}":
            return _error(
                401, "invalid_request_error", f"Invalid API Key provided: {BAD_KEY[:8]}********"
            )
        return None

    @app.get("/v1/products/<pid>")
    def product(pid: str) -> Any:
        if pid not in state["products"]:
            return _error(
                404,
                "invalid_request_error",
                f"No such product: '{pid}'",
                code="resource_missing",
                param="id",
            )
        return jsonify(state["products"][pid])

    @app.post("/v1/products")
    def create_product() -> Any:
        data = form()
        state["products"][data["id"]] = fixture("product", id=data["id"], name=data["name"])
        return jsonify(state["products"][data["id"]])

    @app.post("/v1/prices")
    def create_price() -> Any:
        data = form()
        recurring = (
            {
                "interval": data["recurring[interval]"],
                "interval_count": 1,
                "meter": None,
                "trial_period_days": None,
                "usage_type": "licensed",
            }
            if "recurring[interval]" in data
            else None
        )
        price = fixture(
            "price",
            id=new_id("price"),
            product=data["product"],
            unit_amount=int(data["unit_amount"]),
            unit_amount_decimal=data["unit_amount"],
            currency=data["currency"],
            lookup_key=data.get("lookup_key"),
            recurring=recurring,
            active=True,
            type="recurring" if recurring else "one_time",
            metadata=metadata(data),
        )
        state["prices"][price["id"]] = price
        return jsonify(price)

    @app.get("/v1/prices")
    def list_prices() -> Any:
        keys = set(
            request.args.getlist("lookup_keys[]")
            + [v for k, v in request.args.items() if k.startswith("lookup_keys[")]
        )
        found = [p for p in state["prices"].values() if p["lookup_key"] in keys]
        return jsonify({"object": "list", "data": found, "has_more": False, "url": "/v1/prices"})

    @app.post("/v1/customers")
    def create_customer() -> Any:
        data = form()
        customer = fixture(
            "customer",
            id=new_id("cus"),
            created=next(clock),
            email=data.get("email"),
            name=data.get("name"),
            metadata=metadata(data),
        )
        state["customers"][customer["id"]] = customer
        return jsonify(customer)

    @app.post("/v1/customers/<cid>")
    def update_customer(cid: str) -> Any:
        data = form()
        state["customers"][cid].update({k: data[k] for k in ("email", "name") if k in data})
        return jsonify(state["customers"][cid])

    def item(sub_id: str, price_id: str) -> dict[str, Any]:
        if price_id not in state["prices"]:
            raise LookupError(price_id)
        return fixture(
            "subscription_item",
            id=new_id("si"),
            subscription=sub_id,
            quantity=1,
            price=state["prices"][price_id],
            current_period_start=1763726400,
            current_period_end=1766404800,
        )

    @app.post("/v1/subscriptions")
    def create_subscription() -> Any:
        data = form()
        if failures.get("subscriptions") and failures["subscriptions"] > 0:
            failures["subscriptions"] -= 1
            return _error(500, "api_error", "An unknown error occurred")
        sub_id = new_id("sub")
        try:
            first = item(sub_id, data["items[0][price]"])
        except LookupError:
            return _error(
                400,
                "invalid_request_error",
                f"No such price: '{data['items[0][price]']}'",
                code="resource_missing",
                param="items[0][price]",
            )
        if data["customer"] == "cus_card_declined":
            return _error(
                402,
                "card_error",
                "Your card has insufficient funds.",
                code="card_declined",
                decline_code="insufficient_funds",
            )
        sub = fixture(
            "subscription",
            id=sub_id,
            created=next(clock),
            customer=data["customer"],
            status="incomplete",
            metadata=metadata(data),
            cancel_at_period_end=False,
            canceled_at=None,
            cancel_at=None,
            ended_at=None,
            latest_invoice=None,
        )
        sub["items"] = {
            "object": "list",
            "data": [first],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        }
        state["subscriptions"][sub_id] = sub
        invoice = fixture(
            "invoice",
            id=new_id("in"),
            created=sub["created"],
            customer=data["customer"],
            status="open",
            confirmation_secret={
                "client_secret": f"pi_{sub_id}_secret_x",
                "type": "payment_intent",
            },
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": sub_id},
            },
        )
        state["invoices"][invoice["id"]] = invoice
        sub["latest_invoice"] = invoice["id"]
        emit("customer.subscription.created", sub)
        return jsonify({**sub, "latest_invoice": invoice})

    @app.get("/v1/invoices/<iid>")
    def retrieve_invoice(iid: str) -> Any:
        return jsonify(state["invoices"][iid])

    @app.post("/v1/invoices")
    def create_invoice() -> Any:
        data = form()
        iid = new_id("in")
        invoice = fixture(
            "invoice",
            id=iid,
            created=next(clock),
            customer=data["customer"],
            status="draft",
            currency=data["currency"],
            metadata=metadata(data),
            parent=None,
            amount_due=0,
            amount_paid=0,
            total=0,
            auto_advance=False,
            hosted_invoice_url=None,
            collection_method=data["collection_method"],
        )
        invoice["lines"] = {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoices/{iid}/lines",
        }
        state["invoices"][iid] = invoice
        return jsonify(invoice)

    @app.post("/v1/invoices/create_preview")
    def create_preview() -> Any:
        """Stripe's upcoming invoice with the change applied: a credit for the unused time on
        the old price and a charge for the new one, from proration_date to the period's end."""
        data = form()
        sub = state["subscriptions"][data["subscription"]]
        item = sub["items"]["data"][0]
        new = state["prices"][data["subscription_details[items][0][price]"]]
        start, end = item["current_period_start"], item["current_period_end"]
        left = (end - int(data["subscription_details[proration_date]"])) / (end - start)
        amounts = [-round(item["price"]["unit_amount"] * left), round(new["unit_amount"] * left)]
        invoice = fixture(
            "invoice",
            id="upcoming_in_" + data["subscription"],
            customer=sub["customer"],
            status="draft",
            currency=new["currency"],
            amount_due=max(0, sum(amounts)),
            subscription_proration_date=int(data["subscription_details[proration_date]"]),
        )
        invoice["lines"] = {
            "object": "list",
            "has_more": False,
            "url": "/v1/invoices/upcoming/lines",
            "data": [
                {
                    "id": new_id("il"),
                    "amount": amount,
                    "currency": new["currency"],
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {
                            "subscription": sub["id"],
                            "subscription_item": item["id"],
                            "proration": True,
                        },
                    },
                }
                for amount in amounts
            ],
        }
        return jsonify(invoice)

    @app.post("/v1/invoiceitems")
    def create_invoice_item() -> Any:
        data = form()
        invoice = state["invoices"][data["invoice"]]
        item = fixture(
            "invoiceitem",
            id=new_id("ii"),
            customer=data["customer"],
            amount=int(data["amount"]),
            currency=data["currency"],
            description=data["description"],
            metadata=metadata(data),
        )
        item["parent"] = None
        invoice["amount_due"] += item["amount"]
        invoice["total"] += item["amount"]
        invoice["lines"]["data"].append({"id": new_id("il"), "amount": item["amount"]})
        return jsonify(item)

    @app.post("/v1/invoices/<iid>/finalize")
    def finalize_invoice(iid: str) -> Any:
        invoice = state["invoices"][iid]
        invoice.update(
            status="open",
            auto_advance=form().get("auto_advance") == "true",
            hosted_invoice_url=f"https://invoice.stripe.com/i/acct_x/{iid}",
        )
        return jsonify(invoice)

    @app.get("/v1/subscriptions/<sid>")
    def retrieve_subscription(sid: str) -> Any:
        return jsonify(state["subscriptions"][sid])

    @app.post("/v1/subscriptions/<sid>")
    def update_subscription(sid: str) -> Any:
        data = form()
        sub = state["subscriptions"][sid]
        if "items[0][price]" in data:
            sub["items"]["data"][0]["price"] = state["prices"][data["items[0][price]"]]
        if "cancel_at_period_end" in data:
            sub["cancel_at_period_end"] = data["cancel_at_period_end"] == "true"
        return jsonify(sub)

    @app.delete("/v1/subscriptions/<sid>")
    def cancel_subscription(sid: str) -> Any:
        state["subscriptions"][sid].update(
            status="canceled", canceled_at=1763730000, ended_at=1763730000
        )
        return jsonify(state["subscriptions"][sid])

    @app.post("/v1/checkout/sessions")
    def create_session() -> Any:
        data = form()
        sid = new_id("cs_test")
        session = fixture(
            "checkout.session",
            id=sid,
            created=next(clock),
            mode=data["mode"],
            customer=data["customer"],
            client_reference_id=data["client_reference_id"],
            metadata=metadata(data),
            success_url=data["success_url"],
            cancel_url=data["cancel_url"],
            status="open",
            payment_status="unpaid",
            subscription=None,
            payment_intent=None,
            url=f"https://checkout.stripe.com/c/pay/{sid}",
        )
        state["sessions"][sid] = session
        return jsonify(session)

    @app.get("/v1/checkout/sessions/<sid>")
    def retrieve_session(sid: str) -> Any:
        return jsonify(state["sessions"][sid])

    @app.post("/v1/billing_portal/sessions")
    def portal() -> Any:
        data = form()
        session = fixture(
            "billing_portal.session",
            id=new_id("bps"),
            customer=data["customer"],
            return_url=data["return_url"],
        )
        session["url"] = f"https://billing.stripe.com/p/session/{session['id']}"
        return jsonify(session)

    # -- list endpoints, paged as Stripe pages them (newest first, `starting_after`) -----------
    def emit(type_: str, obj: dict[str, Any]) -> None:
        event = fixture(
            "event",
            id=new_id("evt"),
            type=type_,
            api_version=API_VERSION,
            created=obj.get("created"),
            data={"object": obj, "previous_attributes": None},
            livemode=False,
            pending_webhooks=0,
            request={"id": None, "idempotency_key": None},
        )
        state["events"][event["id"]] = event

    def paged(kind: str, url: str, keep: Any) -> Any:
        found = [o for o in reversed(state[kind].values()) if keep(o)]
        gte = request.args.get("created[gte]")
        if gte is not None:
            found = [o for o in found if int(o.get("created") or 0) >= int(gte)]
        after = request.args.get("starting_after")
        if after:
            found = found[[o["id"] for o in found].index(after) + 1 :]
        limit = int(request.args.get("limit", 10))
        return jsonify(
            {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": url}
        )

    @app.get("/v1/customers")
    def list_customers() -> Any:
        return paged("customers", "/v1/customers", lambda c: True)

    @app.get("/v1/subscriptions")
    def list_subscriptions() -> Any:
        customer = request.args.get("customer")
        everything = request.args.get("status") == "all"
        return paged(
            "subscriptions",
            "/v1/subscriptions",
            lambda s: (
                (customer is None or s["customer"] == customer)
                and (everything or s["status"] != "canceled")
            ),
        )

    @app.get("/v1/invoices")
    def list_invoices() -> Any:
        customer = request.args.get("customer")
        return paged(
            "invoices", "/v1/invoices", lambda i: customer is None or i["customer"] == customer
        )

    @app.get("/v1/checkout/sessions")
    def list_sessions() -> Any:
        status = request.args.get("status")
        return paged(
            "sessions", "/v1/checkout/sessions", lambda s: status is None or s["status"] == status
        )

    @app.get("/v1/events")
    def list_events() -> Any:
        types = {v for k, v in request.args.items(multi=True) if k.startswith("types[")}
        return paged("events", "/v1/events", lambda e: not types or e["type"] in types)

    app.config["failures"] = failures
    app.config["emit"] = emit
    app.config["clock"] = clock
    return app


@contextmanager
def running_stub() -> Iterator[tuple[str, Flask]]:
    app = build_stub()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
