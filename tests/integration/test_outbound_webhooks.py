"""Webhooks to the product end to end: a real receiver over HTTP verifies every message with
the `standardwebhooks` library; real RQ workers deliver; Postgres and the embedded SQLite."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from domain.model.outbound import ENTITLEMENT_CHANGED, SUBSCRIPTION_UPDATED
from domain.model.webhook_endpoints import MAX_ATTEMPTS
from tests.helpers import TEST_JWT_SECRET, bearer
from tests.integration.conftest import REDIS_URL
from tests.integration.outbound_support import (
    attempts,
    deliveries,
    engine_of,
    make_due,
    outbound_app,
    register,
    say,
    sweep_and_drain,
)
from tests.integration.webhook_receiver import Receiver
from tests.integration.webhook_support import drain, post_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def receiver():
    running = Receiver().start()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_stripe_change_reaches_a_receiver_that_answers_500_then_200_once_more(
    settings, clean_db, clean_redis, tmp_path, receiver, backend
):
    app = outbound_app(settings, tmp_path, backend)
    try:
        receiver.secret = register(app, receiver.url)["secret"]
        receiver.first_answers = [500]
        stripe = app.extensions["billing"].payments.gateway
        sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
        client = app.test_client()
        body = stripe.event("customer.subscription.created", sub, event_id="evt_out")
        assert post_event(client, body).status_code == 200
        drain(app.extensions["billing"])  # the event applied, announced, fanned out, tried
        assert post_event(client, body).status_code == 200  # Stripe's redelivery
        drain(app.extensions["billing"])

        first = deliveries(app)
        assert [(d.status, d.attempts, d.last_status_code) for d in first] == [
            ("pending", 1, 500),
            ("pending", 1, 500),
        ]
        make_due(app)
        assert sweep_and_drain(app) == {"messages": 0, "deliveries": 2}
        assert sweep_and_drain(app)["deliveries"] == 0  # a second sweep sends nothing more

        done = deliveries(app)
        assert [(d.status, d.attempts, d.last_status_code) for d in done] == [
            ("delivered", 2, 200),
            ("delivered", 2, 200),
        ]
        for d in done:
            calls = receiver.calls(d.message_id)
            assert [c.answered for c in calls] == [500, 200]
            assert all(c.payload is not None for c in calls)  # every call verified
            assert [a.status_code for a in attempts(app, d.id)] == [500, 200]
        payloads = {r.payload["type"]: r.payload for r in receiver.received}
        assert set(payloads) == {SUBSCRIPTION_UPDATED, ENTITLEMENT_CHANGED}
        assert len(receiver.received) == 4
        update = payloads[SUBSCRIPTION_UPDATED]
        assert update["organization"] == "org_a"
        assert update["data"]["stripe_subscription_id"] == sub["id"]
        assert payloads[ENTITLEMENT_CHANGED]["data"]["tier"] == "pro"
    finally:
        engine_of(app).dispose()


def test_an_endpoint_failing_for_the_whole_window_is_disabled_then_replayed_after_a_fix(
    settings, clean_db, clean_redis, tmp_path, receiver
):
    app = outbound_app(settings, tmp_path, "postgres")
    client = app.test_client()
    try:
        endpoint = register(app, receiver.url, event_types=["invoice.paid"])
        receiver.secret = endpoint["secret"]
        receiver.always = 503
        message_id = say(app, amount_minor=1500)
        drain(app.extensions["billing"])
        for _ in range(MAX_ATTEMPTS - 1):
            make_due(app)
            sweep_and_drain(app)
        (failed,) = deliveries(app)
        assert (failed.status, failed.attempts, failed.last_status_code) == (
            "failed",
            MAX_ATTEMPTS,
            503,
        )
        calls = receiver.calls(message_id)
        assert len(calls) == MAX_ATTEMPTS and all(c.payload is not None for c in calls)
        shown = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}", headers=bearer())
        assert shown.get_json()["enabled"] is False
        with engine_of(app).connect() as conn:
            audit = conn.execute(
                text("SELECT actor, details FROM billing_audit WHERE action = :a"),
                {"a": "webhook_endpoint.disabled"},
            ).all()
        assert len(audit) == 1 and audit[0].details["endpoint_id"] == endpoint["id"]
        listed = client.get(
            f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=bearer()
        ).get_json()["deliveries"]
        assert [(d["status"], len(d["attempt_log"])) for d in listed] == [("failed", MAX_ATTEMPTS)]
        assert all(a["status_code"] == 503 for a in listed[0]["attempt_log"])

        missed = say(app, amount_minor=2500)  # while disabled: kept in the outbox only
        drain(app.extensions["billing"])
        assert receiver.calls(missed) == []

        receiver.always = None  # the owner fixes the receiver, then replays
        replayed = client.post(
            f"/api/v1/webhook-endpoints/{endpoint['id']}/replay",
            json={"since": "2000-01-01T00:00:00Z"},
            headers=bearer(),
        )
        assert replayed.status_code == 202
        assert replayed.get_json()["replayed"] == 2
        assert replayed.get_json()["endpoint"]["enabled"] is True
        drain(app.extensions["billing"])
        assert [c.answered for c in receiver.calls(message_id)][-1] == 200
        assert [c.answered for c in receiver.calls(missed)] == [200]
        assert sorted(d.status for d in deliveries(app)) == ["delivered", "delivered"]
    finally:
        engine_of(app).dispose()


def test_a_worker_killed_mid_delivery_costs_at_most_one_more_call(
    settings, clean_db, clean_redis, tmp_path, receiver, database_url
):
    app = outbound_app(settings, tmp_path, "postgres")
    worker = None
    try:
        receiver.secret = register(app, receiver.url)["secret"]
        receiver.hold = True  # the first call waits: the worker is killed inside it
        message_id = say(app, amount_minor=990)
        env = {
            **os.environ,
            "APP_ENV": "development",
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "JWT_SECRET_KEY": TEST_JWT_SECRET,
            "RQ_QUEUE": settings.rq_queue,
            "OUTBOUND_LEASE_S": "2",
            "REDIS_TIMEOUT_MS": "5000",  # a loaded machine: the enqueues must not time out
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.worker", "webhooks=1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its group: RQ's scheduler process goes with it
        )
        assert receiver.arrived.wait(timeout=60), "the worker never called the receiver"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        receiver.release.set()
        (held,) = deliveries(app)
        assert (held.status, held.attempts) == ("pending", 1)
        # Its lease still runs: the sweep finds nothing due, nobody calls again yet.
        assert sweep_and_drain(app) == {"messages": 0, "deliveries": 0}
        assert len(receiver.calls(message_id)) == 1
        time.sleep(2.2)  # the lease (OUTBOUND_LEASE_S=2) runs out: the sweep takes it again
        assert sweep_and_drain(app) == {"messages": 0, "deliveries": 1}
        (done,) = deliveries(app)
        assert (done.status, done.attempts, done.last_status_code) == ("delivered", 2, 200)
        calls = receiver.calls(message_id)
        assert len(calls) == 2 and all(c.payload is not None for c in calls)
        logged = attempts(app, done.id)
        assert [(a.number, a.status_code) for a in logged] == [(1, None), (2, 200)]
    finally:
        if worker is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        engine_of(app).dispose()
