"""The Python client against the service as the Procfile runs it (gunicorn, a worker and the
scheduler on Postgres and Redis): threads sharing a client, batches, and a recorder that rides
out the web process being stopped and started again."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask, jsonify

from billing_client import BillingClient, QuotaExceeded, TransportError
from billing_client.flask import init_billing, quota_required
from tests.helpers import make_token
from tests.integration.procfile import post, wait_for
from tests.integration.stack import WEB_PORT, running_stack

BASE = f"http://127.0.0.1:{WEB_PORT}"


def test_the_client_against_the_running_service(tmp_path):
    with running_stack(tmp_path, names=("web", "worker", "scheduler")) as stack:
        client = BillingClient(BASE, make_token("org_py", "service"), timeout=5)
        try:
            granted: list[int] = []
            refused: list[QuotaExceeded] = []

            def consumer() -> None:
                for _ in range(30):
                    try:
                        granted.append(client.consume("queries").used)
                    except QuotaExceeded as error:
                        refused.append(error)

            threads = [threading.Thread(target=consumer) for _ in range(6)]
            try:
                for t in threads:
                    t.start()
            finally:
                for t in threads:
                    t.join(timeout=90)
            assert sorted(granted) == list(range(1, 101)) and len(refused) == 80
            assert {(e.limit, e.remaining) for e in refused} == {(100, 0)}
            assert all(e.resets_at is not None and e.resets_at.day == 1 for e in refused)
            wait_for(lambda: stack.ledger("org_py") == 100, 30, "the ledger flush")

            events = [
                {"metric": "stt_words", "quantity": 7, "idempotency_key": f"ev{i}"}
                for i in range(2_345)
            ]
            first = client.record_usage(events)
            again = client.record_usage(events)
            assert (first.accepted, first.duplicates) == (2_345, 0)
            assert (again.accepted, again.duplicates) == (0, 2_345)
            quota = client.quota()
            assert quota.plan == "free" and quota.metrics["stt_words"].used == 2_345 * 7
            assert client.status()["plan"]["tier"] == "free"
            assert client.dashboard()["usage"]["available"]
        finally:
            client.close()


def test_the_recorder_rides_out_the_web_process_going_away(tmp_path):
    with running_stack(tmp_path, names=("web",)) as stack:
        client = BillingClient(BASE, make_token("org_rec", "service"), timeout=3, retries=1)
        recorder = client.usage_recorder(flush_interval=0.2)
        try:
            for i in range(300):
                recorder.add("tts_words", 2, idempotency_key=f"a{i}")
            wait_for(lambda: recorder.sent.accepted == 300, 30, "the first events")
            stack.processes.running["web"].terminate()
            stack.processes.running["web"].wait(timeout=30)
            for i in range(700):
                recorder.add("tts_words", 2, idempotency_key=f"b{i}")
            time.sleep(1.0)  # several flushes fail meanwhile: the events stay buffered
            assert recorder.pending == 700
            with pytest.raises(TransportError):
                recorder.flush()
            stack.processes.start("web")
            wait_for(lambda: post(WEB_PORT, "/healthz", b"", {}) in (200, 405), 60, "web again")
            wait_for(lambda: recorder.pending == 0, 30, "the buffered events")
            assert recorder.sent.accepted == 1_000
            assert (
                stack.scalar("SELECT count(*) FROM usage_events WHERE org_id = 'org_rec'") == 1_000
            )
        finally:
            recorder.close()
            client.close()


def test_a_flask_product_needs_only_the_url_and_a_service_token(tmp_path):
    with running_stack(tmp_path, names=("web",)):
        product = Flask("product")
        client = BillingClient(BASE, make_token("org_flask", "service"))
        init_billing(product, client)

        @product.post("/chat")
        @quota_required("queries", amount=10)
        def chat():
            return jsonify(answer="hello")

        try:
            http = product.test_client()
            answers = [http.post("/chat") for _ in range(11)]
            assert [a.status_code for a in answers] == [200] * 10 + [429]
            assert answers[9].headers["RateLimit-Remaining"] == "0"
            assert answers[10].get_json()["code"] == "quota_exceeded"
            assert int(answers[10].headers["Retry-After"]) > 0
        finally:
            client.close()
