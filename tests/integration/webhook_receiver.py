"""A product's webhook receiver over real HTTP, in a thread: it verifies every message with the
`standardwebhooks` library, as a product would, and answers as a test scripts it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    payload: dict[str, Any] | None  # None: the signature did not verify
    answered: int
    signatures: int


@dataclass
class Receiver:
    secret: str = ""
    # Per message id, the statuses of its first calls (then 200); `always` answers every call.
    first_answers: list[int] = field(default_factory=list)
    always: int | None = None
    hold: bool = False  # block the first call until `release` is set
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status = receiver.answer(body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def answer(self, body: bytes, headers: dict[str, str]) -> int:
        webhook_id = headers.get("webhook-id", headers.get("Webhook-Id", ""))
        signature = headers.get("webhook-signature", headers.get("Webhook-Signature", ""))
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            payload = None
        with self._lock:
            seen = sum(1 for r in self.received if r.webhook_id == webhook_id)
            if payload is None:
                status = 400
            elif self.always is not None:
                status = self.always
            elif seen < len(self.first_answers):
                status = self.first_answers[seen]
            else:
                status = 200
            first = not self.received
            self.received.append(Received(webhook_id, payload, status, len(signature.split())))
        self.arrived.set()
        if self.hold and first:
            self.release.wait(timeout=60)
        return status

    def calls(self, webhook_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.webhook_id == webhook_id]
