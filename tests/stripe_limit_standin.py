"""A Stripe stand-in on loopback that enforces a rate limit the way Stripe answers one: past
`ceiling` calls in the last second, 429 with Retry-After and Stripe's `rate_limit` error.

It answers what usage invoicing sends (customers, invoice items, invoices created, retrieved
and finalized) with Stripe's published object shapes, replays a POST's first answer for a
repeated Idempotency-Key as Stripe does, and records every call: when it arrived (its own
monotonic clock), method, path, idempotency key and status. `refuse_first` answers that many
calls 429 whatever the rate, for retry tests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.stripe_fake import fixture

RATE_LIMITED = json.dumps(
    {
        "error": {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
        }
    }
).encode()


KEPT = {
    "customer": ("id", "object", "created", "email", "name", "metadata", "livemode"),
    "invoice": (
        "id",
        "object",
        "created",
        "customer",
        "currency",
        "status",
        "metadata",
        "parent",
        "total",
        "amount_due",
        "amount_paid",
        "attempt_count",
        "hosted_invoice_url",
        "collection_method",
        "livemode",
    ),
    "invoiceitem": (
        "id",
        "object",
        "customer",
        "amount",
        "currency",
        "description",
        "metadata",
        "parent",
        "livemode",
    ),
}


def _trimmed(kind: str) -> dict[str, Any]:
    whole = fixture(kind)
    return {name: whole.get(name) for name in KEPT[kind]}


@dataclass(frozen=True)
class Call:
    at: float
    method: str
    path: str
    idempotency_key: str | None
    status: int


class StripeLimitStandIn:
    def __init__(
        self,
        ceiling: float | None = None,
        port: int = 0,
        retry_after: str | None = "1",
        refuse_first: int = 0,
    ) -> None:
        self.ceiling = ceiling
        self.retry_after = retry_after
        self.refuse_first = refuse_first
        self.calls: list[Call] = []
        self._accepted: deque[float] = deque()  # arrivals of the last second, answered 2xx
        self._replays: dict[str, bytes] = {}
        self._invoices: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._templates = {kind: fixture(kind) for kind in ("customer", "invoice", "invoiceitem")}
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 20  # headers and body in one write

            def do_GET(self) -> None:  # http.server dispatches on these names
                stand_in._answer(self)

            def do_POST(self) -> None:
                stand_in._answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> StripeLimitStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- what the tests read -------------------------------------------------------------------
    def statuses(self) -> list[int]:
        with self._lock:
            return [c.status for c in self.calls]

    def busiest_second(self) -> int:
        """The most calls that arrived within any window of one second."""
        with self._lock:
            times = sorted(c.at for c in self.calls)
        best, first = 0, 0
        for last, at in enumerate(times):
            while at - times[first] >= 1.0:
                first += 1
            best = max(best, last - first + 1)
        return best

    # -- the API -------------------------------------------------------------------------------
    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode() if length else ""
        key = request.headers.get("Idempotency-Key")
        method, path = request.command, request.path.split("?", 1)[0]
        with self._lock:
            now = time.monotonic()
            while self._accepted and now - self._accepted[0] >= 1.0:
                self._accepted.popleft()
            limited = self.refuse_first > 0 or (
                self.ceiling is not None and len(self._accepted) >= self.ceiling
            )
            if limited:
                self.refuse_first = max(0, self.refuse_first - 1)
                status, data = 429, RATE_LIMITED
            else:
                self._accepted.append(now)
                replay = self._replays.get(f"{method} {key}") if key else None
                status, data = (200, replay) if replay else self._create(method, path, body)
                if key and not replay and status == 200:
                    self._replays[f"{method} {key}"] = data
            self.calls.append(Call(now, method, path, key, status))
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.send_header("Request-Id", f"req_{next(self._ids)}")
        if status == 429 and self.retry_after is not None:
            request.send_header("Retry-After", self.retry_after)
        request.end_headers()
        request.wfile.write(data)

    def _create(self, method: str, path: str, body: str) -> tuple[int, bytes]:
        form = dict(parse_qsl(body))
        meta = {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")}
        parts = path.strip("/").split("/")  # v1, kind, [id, [action]]
        kind = parts[1] if len(parts) > 1 else ""
        obj: dict[str, Any]
        if method == "POST" and parts[1:] == ["customers"]:
            obj = {**self._templates["customer"], "id": f"cus_{next(self._ids)}", "metadata": meta}
        elif method == "POST" and parts[1:] == ["invoices"]:
            iid = f"in_{next(self._ids)}"
            obj = {
                **self._templates["invoice"],
                "id": iid,
                "customer": form.get("customer"),
                "currency": form.get("currency", "usd"),
                "status": "draft",
                "metadata": meta,
                "parent": None,
                "total": 0,
                "amount_due": 0,
                "amount_paid": 0,
                "hosted_invoice_url": None,
                "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/x"},
            }
            self._invoices[iid] = obj
        elif method == "POST" and parts[1:] == ["invoiceitems"]:
            invoice = self._invoices.get(form.get("invoice", ""))
            if invoice is None:
                return (
                    404,
                    b'{"error": {"type": "invalid_request_error", "code": "resource_missing"}}',
                )
            amount = int(form.get("amount", 0))
            invoice["total"] += amount
            invoice["amount_due"] += amount
            obj = {
                **self._templates["invoiceitem"],
                "id": f"ii_{next(self._ids)}",
                "amount": amount,
            }
        elif kind == "invoices" and len(parts) >= 3 and parts[2] in self._invoices:
            obj = self._invoices[parts[2]]
            if method == "POST" and parts[3:] == ["finalize"]:
                obj.update(
                    status="open", hosted_invoice_url=f"https://invoice.stripe.com/i/{obj['id']}"
                )
        else:
            return 404, b'{"error": {"type": "invalid_request_error", "code": "resource_missing"}}'
        return 200, json.dumps(obj).encode()
