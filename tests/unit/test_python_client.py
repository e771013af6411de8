"""The Python client (clients/python) against the service's own WSGI app, in process: httpx's
WSGITransport carries each request to the real API over fake ports. Faults (a lost reply, a 503,
a refused connection) are injected in the transport, where the network would fail."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify

from billing_client import (
    AuthenticationFailed,
    BillingClient,
    PaymentsNotConfigured,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    SpendCapReached,
    TransportError,
    UsageEvent,
    ValidationFailed,
)
from billing_client.flask import init_billing, quota_required
from tests.helpers import make_token

Handler = Callable[[httpx.Request, httpx.BaseTransport], httpx.Response]


class Faulty(httpx.BaseTransport):
    """Forwards to the service; `plan` says, per request, what the network does to it."""

    def __init__(self, service: Flask, plan: list[str] | None = None) -> None:
        self.inner = httpx.WSGITransport(app=service)
        self.plan = list(plan or [])
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        fault = self.plan.pop(0) if self.plan else "ok"
        if fault == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        if fault == "503":
            return httpx.Response(
                503,
                json={"code": "quota_unavailable", "message": "down", "status": 503},
                headers={"Retry-After": "1"},
            )
        response = self.inner.handle_request(request)
        if fault == "lost":  # the service did the work; its answer never came back
            response.read()
            raise httpx.ReadTimeout("timed out", request=request)
        return response


def bodies(transport: Faulty) -> list[Any]:
    import json

    return [json.loads(r.content) if r.content else None for r in transport.requests]


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(app: Flask, sleeps: list[float], plan: list[str] | None = None, **kw: Any):
    transport = Faulty(app, plan)
    token = kw.pop("token", None) or make_token("org_c", "service")
    client = BillingClient(
        "http://billing.local", token, timeout=2, transport=transport, sleep=sleeps.append, **kw
    )
    return client, transport


def test_consume_counts_and_refuses_with_typed_fields(app, sleeps):
    client, _ = make_client(app, sleeps)
    decisions = [client.consume("queries") for _ in range(100)]
    assert [d.used for d in decisions] == list(range(1, 101))
    assert decisions[-1].remaining == 0 and decisions[-1].limit == 100
    with pytest.raises(QuotaExceeded) as refused:
        client.consume("queries")
    error = refused.value
    assert (error.code, error.status, error.limit, error.remaining) == (
        "quota_exceeded",
        429,
        100,
        0,
    )
    assert isinstance(error.resets_at, datetime) and error.resets_at.day == 1
    assert sleeps == []  # a refusal is an answer, never retried


def test_a_lost_reply_is_retried_with_the_same_key_and_counted_once(app, sleeps):
    client, transport = make_client(app, sleeps, ["lost", "lost"])
    decision = client.consume("queries", 3)
    keys = {b["idempotency_key"] for b in bodies(transport)}
    assert len(transport.requests) == 3 and len(keys) == 1
    assert decision.duplicate and decision.used == 3  # the service counted it once
    assert client.quota().metrics["queries"].used == 3
    assert len(sleeps) == 2 and all(0 <= s <= 5 for s in sleeps)


def test_503_and_refused_connections_are_retried_then_raised(app, sleeps):
    client, transport = make_client(app, sleeps, ["503", "refused"])
    assert client.consume("queries").used == 1
    assert len(transport.requests) == 3 and sleeps[0] == 1.0  # Retry-After honoured
    down, transport = make_client(app, sleeps, ["refused"] * 4, retries=3)
    with pytest.raises(TransportError):
        down.consume("queries")
    assert len(transport.requests) == 4
    assert down.quota().metrics["queries"].used == 1  # nothing was counted by the failures


def test_a_release_is_not_resent_after_it_may_have_arrived(app, sleeps):
    client, transport = make_client(app, sleeps, ["ok", "lost"])
    client.consume("documents", 3)
    with pytest.raises(TransportError):
        client.release("documents", 1)
    assert len(transport.requests) == 2  # one consume, one release: no blind resend
    assert client.quota().metrics["documents"].used == 2


def test_usage_goes_in_batches_of_1000_and_a_resent_batch_is_stored_once(app, sleeps, ports):
    client, transport = make_client(app, sleeps, ["ok", "lost"])
    events = [UsageEvent("stt_words", 10, idempotency_key=f"e{i}") for i in range(2_500)]
    result = client.record_usage(events)
    assert [len(b["events"]) for b in bodies(transport)] == [1000, 1000, 1000, 500]
    assert (result.accepted, result.duplicates) == (1_500, 1_000)  # the lost batch's retry
    again = client.record_usage(events)
    assert (again.accepted, again.duplicates) == (0, 2_500)
    assert client.quota().metrics["stt_words"].used == 25_000


def test_refused_input_raises_validation_failed_naming_the_field(app, sleeps):
    client, transport = make_client(app, sleeps)
    with pytest.raises(ValidationFailed) as refused:
        client.record_usage(
            [{"metric": "stt_words", "quantity": 1}, {"metric": "x", "quantity": 1}]
        )
    assert "1" in refused.value.errors["json"]["events"]
    assert len(transport.requests) == 1


def test_auth_and_role_errors_are_typed(app, sleeps):
    expired, _ = make_client(app, sleeps, token=make_token("org_c", "service", expires_in=-60))
    with pytest.raises(AuthenticationFailed) as failed:
        expired.quota()
    assert failed.value.code == "token_expired"
    member, _ = make_client(app, sleeps, token=make_token("org_c", "member"))
    with pytest.raises(PermissionDenied):
        member.consume("queries")


def test_status_and_dashboard_answer_a_service_token(app, sleeps):
    client, _ = make_client(app, sleeps)
    assert client.status()["plan"]["tier"] == "free"
    dashboard = client.dashboard()
    assert dashboard["org_id"] == "org_c" and dashboard["usage"]["available"]


def test_error_classes_follow_the_stable_codes(app, sleeps):
    answers = iter(
        [
            httpx.Response(
                503, json={"code": "stripe_not_configured", "message": "m", "status": 503}
            ),
            httpx.Response(
                429,
                json={
                    "code": "spend_cap_reached",
                    "message": "m",
                    "status": 429,
                    "cap": {"amount_minor": 500, "currency": "usd"},
                    "spent": {"amount_minor": 500, "currency": "usd"},
                    "resets_at": "2027-01-01T00:00:00+00:00",
                },
            ),
            httpx.Response(
                429,
                json={"code": "rate_limited", "message": "m", "status": 429},
                headers={"Retry-After": "2"},
            ),
        ]
    )
    client = BillingClient(
        "http://billing.local",
        "t",
        transport=httpx.MockTransport(lambda r: next(answers)),
        sleep=sleeps.append,
        retries=1,
    )
    with pytest.raises(PaymentsNotConfigured):
        client.status()
    with pytest.raises(SpendCapReached) as capped:
        client.consume("stt_words", 10)
    assert capped.value.cap == {"amount_minor": 500, "currency": "usd"}
    assert capped.value.resets_at is not None and capped.value.resets_at.year == 2027
    answers = iter(
        [
            httpx.Response(
                429,
                json={"code": "rate_limited", "message": "m", "status": 429},
                headers={"Retry-After": "2"},
            )
        ]
        * 2
    )
    with pytest.raises(RateLimited) as limited:
        client.consume("queries")
    assert limited.value.retry_after == 2.0 and sleeps == [2.0]


def test_threads_sharing_one_client_never_get_more_than_the_limit(app, sleeps):
    client, _ = make_client(app, sleeps)
    granted: list[int] = []
    refused: list[int] = []

    def worker() -> None:
        for _ in range(15):
            try:
                granted.append(client.consume("queries").used)
            except QuotaExceeded:
                refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    try:
        for t in threads:
            t.start()
    finally:
        for t in threads:
            t.join(timeout=60)
    assert sorted(granted) == list(range(1, 101)) and len(refused) == 50


def test_the_recorder_keeps_events_through_an_outage_and_sends_them_once(app, sleeps):
    client, transport = make_client(app, sleeps, ["refused"] * 4, retries=3)
    refused: list[Any] = []
    recorder = client.usage_recorder(background=False, on_error=lambda e, x: refused.append(x))
    for i in range(1_200):
        recorder.add("tts_words", 5, idempotency_key=f"k{i}", conversation_id="conv_1")
    with pytest.raises(TransportError):
        recorder.flush()
    assert recorder.pending == 1_200
    result = recorder.flush()
    assert (result.accepted, recorder.pending) == (1_200, 0)
    # 1,000 events with a conversation id pass the service's 64 KiB test body limit: halved
    sizes = [len(b["events"]) for b in bodies(transport)[4:]]
    assert sizes == [1000, 500, 500, 200]
    recorder.add("tts_words", -1)  # refused by the service: handed over, not retried forever
    recorder.close()
    assert len(refused) == 1 and isinstance(refused[0], ValidationFailed)
    assert client.quota().metrics["tts_words"].used == 6_000


def test_the_background_recorder_flushes_on_its_own(app, sleeps):
    client, _ = make_client(app, sleeps)
    recorder = client.usage_recorder(flush_interval=0.05)
    try:
        for i in range(30):
            recorder.add("stt_words", 1, idempotency_key=f"b{i}")
        import time

        deadline = time.monotonic() + 10
        while recorder.sent.accepted < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert recorder.sent.accepted == 30
    finally:
        recorder.close()


def product_app(service: Flask, sleeps: list[float], plan: list[str] | None = None, **kw: Any):
    product = Flask("product")
    client, _ = make_client(service, sleeps, plan, retries=1)
    init_billing(product, client)
    ran: list[int] = []

    @product.post("/chat")
    @quota_required("queries", **kw)
    def chat() -> Any:
        ran.append(1)
        return jsonify(answer="hello")

    return product.test_client(), ran


def test_the_flask_decorator_needs_only_the_url_and_a_token(app, sleeps, real_time):
    product, ran = product_app(app, sleeps)
    answers = [product.post("/chat") for _ in range(101)]
    assert [a.status_code for a in answers[:100]] == [200] * 100 and len(ran) == 100
    assert answers[99].headers["RateLimit-Remaining"] == "0"
    refused = answers[100]
    assert refused.status_code == 429 and refused.get_json()["code"] == "quota_exceeded"
    assert int(refused.headers["Retry-After"]) > 0 and len(ran) == 100


def test_the_decorator_fails_closed_unless_told_otherwise(app, sleeps):
    closed, ran = product_app(app, sleeps, ["refused"] * 2)
    answer = closed.post("/chat")
    assert answer.status_code == 503 and answer.get_json()["code"] == "quota_unavailable"
    assert ran == []
    open_, ran = product_app(app, sleeps, ["refused"] * 2, fail_open=True)
    assert open_.post("/chat").status_code == 200 and ran == [1]
