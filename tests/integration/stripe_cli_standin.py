"""Stripe's side of the Stripe CLI, on loopback, for tests that run the real CLI.

`stripe listen --api-base <base>` asks the base for a CLI session (`POST /v1/stripecli/sessions`,
a form with device_name, websocket_features[] and the forward URLs) and dials the websocket the
answer names (header `Websocket-Id`, query `websocket_feature`, subprotocol
`stripecli-devproxy-v1`). Stripe pushes `webhook_event` messages there: the raw event body and the
HTTP headers, Stripe-Signature included, that the CLI forwards unchanged. The CLI answers an
`event_ack` for every event, and a `webhook_response` (the target's status and body) for each one
it forwards. `stripe trigger --api-base <base>` runs its fixture's API calls against the same
base; the stand-in answers the few its tests use and pushes the events Stripe would send.
Shapes follow the CLI's pkg/stripeauth and pkg/websocket, and Stripe's published fixtures.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from typing import Any

from flask import Flask, jsonify, request
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve
from werkzeug.serving import BaseWSGIServer, make_server

from adapters.stripe_gateway import API_VERSION
from tests.helpers import stripe_signature
from tests.stripe_fake import fixture

SUBPROTOCOL = "stripecli-devproxy-v1"
FEATURE = "webhook-payloads"
# Real Stripe's headers on a delivery; the CLI adds none of its own.
DELIVERY_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    "Cache-Control": "no-cache",
    "Accept": "*/*; q=0.5, application/xml",
}
KINDS = {
    "cus": "customer",
    "prod": "product",
    "price": "price",
    "sub": "subscription",
    "cs": "checkout.session",
    "in": "invoice",
}


def nested_form(form: dict[str, str]) -> dict[str, Any]:
    """Stripe's form encoding (`items[0][price]=...`) decoded into dicts; indices stay keys."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class StripeCliStandIn:
    def __init__(self, api_key: str, port: int, ws_port: int) -> None:
        self.api_key = api_key
        self.secret = "whsec_" + secrets.token_hex(16)
        self.port, self.ws_port = port, ws_port
        self.objects: dict[str, dict[str, Any]] = {}
        self.sessions: list[dict[str, Any]] = []  # the forms of POST /v1/stripecli/sessions
        # (caller, method, path, status) of every other call; the caller is "cli" or "service"
        self.api_calls: list[tuple[str, str, str, int]] = []
        self.acks: list[str] = []
        self.responses: dict[str, dict[str, Any]] = {}  # by webhook_conversation_id
        self.pushed: dict[str, tuple[str, str]] = {}  # event id -> (type, conversation id)
        self._websocket_ids: set[str] = set()
        self._connection: ServerConnection | None = None
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._run = secrets.token_hex(3)
        self._http: BaseWSGIServer | None = None
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> StripeCliStandIn:
        self._http = make_server("127.0.0.1", self.port, self._app(), threaded=True)
        self._ws = serve(
            self._socket,
            "127.0.0.1",
            self.ws_port,
            subprotocols=[SUBPROTOCOL],
            process_request=self._check_websocket_id,
        )
        for server in (self._http, self._ws):
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        if self._ws is not None:
            self._ws.shutdown()
        if self._http is not None:
            self._http.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- objects and events ------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}_cli{self._run}{next(self._ids):04d}"

    def put(self, prefix: str, **fields: Any) -> dict[str, Any]:
        obj = fixture(KINDS[prefix], id=self.new_id(prefix), livemode=False, **fields)
        self.objects[obj["id"]] = obj
        return obj

    def event(self, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        return fixture(
            "event",
            id=self.new_id("evt"),
            type=type_,
            api_version=API_VERSION,
            created=int(time.time()),
            livemode=False,
            pending_webhooks=1,
            data={"object": obj, "previous_attributes": None},
            request={"id": None, "idempotency_key": None},
        )

    def push(self, event: dict[str, Any], secret: str | None = None) -> str:
        """Send one event down the CLI's websocket, signed like Stripe signs it; answers the
        conversation id its webhook_response will carry."""
        connection = self.wait_connected()
        body = json.dumps(event, indent=2)
        conversation = self.new_id("wc")
        headers = {
            **DELIVERY_HEADERS,
            "Stripe-Signature": stripe_signature(body.encode(), secret or self.secret),
        }
        with self._changed:
            self.pushed[event["id"]] = (event["type"], conversation)
        connection.send(
            json.dumps(
                {
                    "type": "webhook_event",
                    "webhook_id": self.new_id("we"),
                    "webhook_conversation_id": conversation,
                    "event_payload": body,
                    "http_headers": headers,
                    "endpoint": {"api_version": None},
                }
            )
        )
        return conversation

    def response(self, conversation: str, timeout_s: float = 30) -> dict[str, Any]:
        return self._wait(
            lambda: self.responses.get(conversation),
            timeout_s,
            f"no webhook_response for {conversation}",
        )

    def deliver(self, event: dict[str, Any], secret: str | None = None) -> dict[str, Any]:
        return self.response(self.push(event, secret))

    def acked(self, event_id: str, timeout_s: float = 30) -> bool:
        return self._wait(lambda: event_id in self.acks, timeout_s, f"{event_id} never acked")

    def wait_connected(self, timeout_s: float = 30) -> ServerConnection:
        return self._wait(lambda: self._connection, timeout_s, "the CLI never connected")

    def _wait(self, found: Any, timeout_s: float, failure: str) -> Any:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not (value := found()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(failure)
                self._changed.wait(left)
        return value

    # -- the websocket -----------------------------------------------------------------
    def _check_websocket_id(self, connection: ServerConnection, req: Any) -> Any:
        # What Stripe answers a websocket id it never issued (the CLI then re-authorizes).
        if (
            req.headers.get("Websocket-Id") not in self._websocket_ids
            or f"websocket_feature={FEATURE}" not in req.path
        ):
            return connection.respond(400, "Unknown WebSocket ID.")
        return None

    def _socket(self, connection: ServerConnection) -> None:
        with self._changed:
            self._connection = connection
            self._changed.notify_all()
        try:
            for raw in connection:
                message = json.loads(raw)
                with self._changed:
                    if message.get("type") == "event_ack":
                        self.acks.append(message["event_id"])
                    elif message.get("type") == "webhook_response":
                        self.responses[message["webhook_conversation_id"]] = message
                    self._changed.notify_all()
        except ConnectionClosed:
            pass  # the CLI stopped: it sends no close frame when killed
        finally:
            with self._changed:
                if self._connection is connection:
                    self._connection = None

    # -- the HTTP API ------------------------------------------------------------------
    def _app(self) -> Flask:
        app = Flask("stripe_cli_standin")

        def error(status: int, message: str) -> Any:
            response = jsonify({"error": {"type": "invalid_request_error", "message": message}})
            response.status_code = status
            return response

        @app.before_request
        def authenticate() -> Any:
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return error(401, "Invalid API Key provided")
            return None

        @app.after_request
        def note(response: Any) -> Any:
            if request.path.startswith("/v1/") and request.path != "/v1/stripecli/sessions":
                caller = (
                    "cli" if "stripe-cli" in request.headers.get("User-Agent", "") else "service"
                )
                self.api_calls.append((caller, request.method, request.path, response.status_code))
            return response

        @app.post("/v1/stripecli/sessions")
        def cli_session() -> Any:
            form = request.form.to_dict(flat=False)
            self.sessions.append(form)
            websocket_id = self.new_id("wsid")
            self._websocket_ids.add(websocket_id)
            return jsonify(
                {
                    "secret": self.secret,
                    "websocket_id": websocket_id,
                    "websocket_url": f"ws://127.0.0.1:{self.ws_port}/subscribe",
                    "websocket_authorized_feature": FEATURE,
                    "reconnect_delay": 5,
                    "display_connect_filter_warning": False,
                    "default_version": API_VERSION,
                    "latest_version": API_VERSION,
                    "device_token": self.new_id("dvt"),
                }
            )

        @app.get("/v1/<path:path>")
        def retrieve(path: str) -> Any:
            obj = self.objects.get(path.rsplit("/", 1)[-1])
            if obj is None or not path.startswith(obj["object"].replace(".", "/") + "s/"):
                return error(404, f"No such object: '{path}'")
            return jsonify(obj)

        @app.post("/v1/<kind>")
        def create(kind: str) -> Any:
            data = nested_form(request.form.to_dict())
            if kind == "customers":
                obj = self.put("cus", description=data.get("description"), metadata={})
            elif kind == "products":
                obj = self.put("prod", name=data["name"], description=data.get("description"))
            elif kind == "prices":
                obj = self.put(
                    "price",
                    product=data["product"],
                    currency=data["currency"],
                    unit_amount=int(data["unit_amount"]),
                    lookup_key=None,
                    recurring={
                        "interval": data["recurring"]["interval"],
                        "interval_count": 1,
                        "meter": None,
                        "trial_period_days": None,
                        "usage_type": "licensed",
                    }
                    if "recurring" in data
                    else None,
                )
            elif kind == "subscriptions":
                obj = self.subscription(
                    data["customer"], data["items"]["0"]["price"], data.get("metadata", {})
                )
            else:
                return error(404, f"Unrecognized request URL (POST: /v1/{kind})")
            noun = "customer.subscription" if kind == "subscriptions" else obj["object"]
            self.push(self.event(f"{noun}.created", obj))
            return jsonify(obj)

        return app

    def subscription(
        self, customer: str, price_id: str, metadata: dict[str, str], status: str = "active"
    ) -> dict[str, Any]:
        now = int(time.time())
        sub = self.put(
            "sub",
            customer=customer,
            status=status,
            metadata=dict(metadata),
            cancel_at_period_end=False,
            canceled_at=None,
            cancel_at=None,
            ended_at=None,
            start_date=now,
        )
        item = fixture(
            "subscription_item",
            id=self.new_id("si"),
            subscription=sub["id"],
            quantity=1,
            price=self.objects[price_id],
            current_period_start=now,
            current_period_end=now + 30 * 86400,
        )
        sub["items"] = {
            "object": "list",
            "data": [item],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub['id']}",
        }
        return sub
