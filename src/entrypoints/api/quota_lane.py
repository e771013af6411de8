"""A fast lane for POST /api/v1/quota/consume, the call a product makes on every request it
serves: a WSGI middleware around the Flask app that answers the plain case without entering
Flask, and hands every other request to Flask unchanged.

The plain case: a bearer token already verified by this process (auth.VerifiedTokens, expiry
checked as there) with a role the route allows, of an organization already known to it; no
per-organization metered rate limit; no read replica; a declared-length `application/json` body that
quota_body.plain_json reads; the counters in Redis (the embedded default flushes after each
consumption: Flask answers it). The answer is the route's own: decision_answer's status,
headers and bytes, then security.tags' headers; the route's latency and the quota decision
are counted with the labels Flask's hooks give them.

Once a consumption is made it is never made again: a decision other than a plain allowance
(a refusal, a spend cap) or the error the consumption raised (Redis unreachable, any other) is
handed to the Flask route in the WSGI environ (quota.CONSUMED) and answered there, with all its
hooks."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from domain.model.plans import Metric
from domain.services.quotas import consume_quota
from entrypoints import metrics
from entrypoints.api.auth import USE_QUOTA, Role, VerifiedTokens
from entrypoints.api.metrics import STARTED
from entrypoints.api.quota import CONSUMED, decision_answer
from entrypoints.api.quota_body import plain_json
from entrypoints.api.security import request_id_of, tags
from entrypoints.bootstrap import Container

PATH = "/api/v1/quota/consume"
ROUTE = PATH  # its URL rule: the label Flask's metrics hook gives it
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_REASONS = {200: "200 OK"}


class QuotaFastLane:
    def __init__(self, wsgi_app: WsgiApp, app: Flask) -> None:
        self.wsgi_app = wsgi_app
        self.container: Container = app.extensions["billing"]
        self.enabled = True
        self.taken = 0  # requests answered here, not by Flask
        self.handed = 0  # consumed here, answered by the Flask route

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if (
            not self.enabled
            or environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "POST"
        ):
            return self.wsgi_app(environ, start_response)
        answer = self._answer(environ)
        if answer is None:
            return self.wsgi_app(environ, start_response)
        status, headers, data = answer
        start_response(_REASONS[status], headers)
        return [data]

    def _answer(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes] | None:
        started = time.perf_counter()
        c = self.container
        settings = c.settings
        if settings.embedded or (settings.rate_limit_enabled and settings.rate_limit_metered):
            return None
        if c.reads is not None:  # a read replica: Flask's hooks keep the write marks it needs
            return None
        if environ.get("QUERY_STRING") or environ.get("CONTENT_TYPE") != "application/json":
            return None
        if "HTTP_TRANSFER_ENCODING" in environ:
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not (length.isascii() and length.isdigit()):
            return None
        if not 0 < int(length) <= settings.max_content_length:
            return None
        tokens: VerifiedTokens | None = c.extras.get("verified_tokens")
        header = environ.get("HTTP_AUTHORIZATION", "")
        if tokens is None or not header:
            return None
        found = tokens.get(header, settings.jwt_leeway_s)
        if found is None or found.role not in USE_QUOTA:
            return None
        known: set[tuple[str, bool]] = c.extras.get("known_orgs", set())
        if (found.org_id, found.role is Role.PLATFORM_ADMIN) not in known:
            return None
        raw = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(raw)  # Flask reads the same bytes if handed on
        body = plain_json(raw)
        if body is None:
            return None
        metric = Metric(body["metric"])
        try:
            decision = consume_quota(
                c.quota, found.org_id, metric, body["amount"], body["idempotency_key"]
            )
        except Exception as exc:  # noqa: BLE001 - raised again by the route, where Flask answers it
            self._hand_on(environ, exc, started)
            return None
        if not decision.allowed or decision.capped:
            self._hand_on(environ, decision, started)
            return None
        metrics.count_quota("consume", decision)
        status, headers, data = decision_answer(decision, c.clock.now())
        headers.extend(tags(request_id_of(environ.get("HTTP_X_REQUEST_ID", ""))))
        metrics.observe_request(ROUTE, "POST", status, time.perf_counter() - started)
        self.taken += 1
        return status, headers, data

    def _hand_on(self, environ: dict[str, Any], outcome: object, started: float) -> None:
        """The Flask route answers this consumption (made once, here) and its hooks time it."""
        environ[CONSUMED] = outcome
        environ[STARTED] = started
        self.handed += 1


def install(app: Flask) -> QuotaFastLane:
    """The lane around the app's WSGI callable (the outermost layer); kept in app.extensions."""
    lane = QuotaFastLane(app.wsgi_app, app)
    app.wsgi_app = lane  # type: ignore[method-assign]
    app.extensions["quota_lane"] = lane
    return lane
