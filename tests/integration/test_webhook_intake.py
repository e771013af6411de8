"""The webhook intake's write (SqlWebhookIntake): deliveries racing on Postgres and on the
embedded default, a broken pooled connection, Redis down, bad signatures and bodies, and the
request metrics of the route."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from domain.services.webhook_intake import requeue_stale_events
from entrypoints import metrics
from tests.helpers import signed
from tests.integration.conftest import ADMIN_URL, backend_settings
from tests.integration.webhook_support import make_stripe, post_event, webhook_app
from tests.metrics_support import value
from tests.unit.fakes import FakeClock

PATH = "/api/v1/billing/webhook"
THREADS = 24


@pytest.fixture(params=["postgres", "embedded"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[Any, Any]]:
    stripe = make_stripe()
    app = webhook_app(backend_settings(request, tmp_path), stripe)
    try:
        yield app, stripe
    finally:
        app.extensions["billing"].engine.dispose()


def _rows(app: Any) -> list[Any]:
    with app.extensions["billing"].engine.connect() as conn:
        return conn.execute(
            text("SELECT id, status, attempts FROM webhook_events ORDER BY id")
        ).all()


def _subscription_event(stripe: Any, n: int, event_id: str | None = None) -> bytes:
    sub = stripe.put_subscription(
        f"cus_{n:03d}", stripe.price_ids["pro"], "active", org_id=f"org_{n:03d}"
    )
    return stripe.event("customer.subscription.updated", sub, event_id=event_id)


def _jobs_run_or_queued(app: Any) -> int:
    """Postgres: the jobs waiting in RQ. Embedded: the jobs already run inline (attempts)."""
    container = app.extensions["billing"]
    if container.settings.embedded:
        return sum(row.attempts for row in _rows(app))
    return int(container.queue.count)


def test_one_event_from_many_threads_at_once_is_stored_and_queued_once(backend):
    app, stripe = backend
    body = _subscription_event(stripe, 1, event_id="evt_race")
    start = threading.Barrier(THREADS)

    def deliver(_: int) -> dict[str, Any]:
        client = app.test_client()
        start.wait(timeout=30)
        response = post_event(client, body)
        assert response.status_code == 200, response.get_data(as_text=True)
        return dict(response.get_json())

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(deliver, range(THREADS)))
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * (THREADS - 1)
    assert {a["event_id"] for a in answers} == {"evt_race"}
    assert [row.id for row in _rows(app)] == ["evt_race"]
    assert _jobs_run_or_queued(app) == 1


def test_distinct_and_repeated_events_interleaved_are_each_stored_and_queued_once(backend):
    app, stripe = backend
    bodies = [_subscription_event(stripe, n) for n in range(40)]
    deliveries = bodies * 3
    random.Random(17).shuffle(deliveries)
    clients = [app.test_client() for _ in range(THREADS)]

    def deliver(i: int) -> bool:
        response = post_event(clients[i % THREADS], deliveries[i])
        assert response.status_code == 200, response.get_data(as_text=True)
        return bool(response.get_json()["duplicate"])

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        duplicates = list(pool.map(deliver, range(len(deliveries))))
    assert duplicates.count(False) == 40 and duplicates.count(True) == 80
    assert len(_rows(app)) == 40
    assert _jobs_run_or_queued(app) == 40


def test_the_stored_event_is_the_body_with_its_envelope(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    try:
        body = _subscription_event(stripe, 2, event_id="evt_shape")
        assert post_event(app.test_client(), body).status_code == 200
        with clean_db.connect() as conn:
            row = conn.execute(text("SELECT * FROM webhook_events")).mappings().one()
        sent = json.loads(body)
        assert row["payload"] == sent
        assert (row["id"], row["type"], row["status"]) == (
            "evt_shape",
            "customer.subscription.updated",
            "pending",
        )
        assert row["api_version"] == sent["api_version"] and row["livemode"] is False
        assert row["stripe_created_at"] == datetime.fromtimestamp(sent["created"], UTC)
        assert row["attempts"] == 0 and row["received_at"] is not None
    finally:
        app.extensions["billing"].engine.dispose()


def _terminate_backends(database_url: str) -> int:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": make_url(database_url).database},
                ).all()
            )
    finally:
        admin.dispose()


def test_a_pooled_connection_postgres_closed_is_replaced_without_an_error(
    settings, clean_db, clean_redis, database_url
):
    """The intake's pool has no pre-ping: a connection Postgres dropped (a restart) is found
    broken by the insert itself, discarded, and the insert tried on a new one."""
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    client = app.test_client()
    try:
        assert post_event(client, _subscription_event(stripe, 3, "evt_before")).status_code == 200
        assert _terminate_backends(database_url) >= 1  # the intake's idle pooled connection
        response = post_event(client, _subscription_event(stripe, 4, "evt_after"))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["duplicate"] is False
        assert [row.id for row in _rows(app)] == ["evt_after", "evt_before"]
        assert app.extensions["billing"].queue.count == 2
    finally:
        app.extensions["billing"].engine.dispose()


def test_redis_down_every_event_is_stored_and_the_sweep_queues_each_once(
    settings, clean_db, clean_redis
):
    stripe = make_stripe()
    down = webhook_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}), stripe)
    bodies = [_subscription_event(stripe, n, f"evt_down_{n}") for n in range(5)]
    try:
        client = down.test_client()
        for body in bodies:
            response = post_event(client, body)
            assert response.status_code == 200
            assert response.get_json()["duplicate"] is False
        repeated = post_event(client, bodies[0])  # Stripe's redelivery, Redis still down
        assert repeated.status_code == 200 and repeated.get_json()["duplicate"] is True
    finally:
        down.extensions["billing"].engine.dispose()
    assert [(row.id, row.status) for row in _rows_of(clean_db)] == [
        (f"evt_down_{n}", "pending") for n in range(5)
    ]
    back = webhook_app(settings, stripe)  # Redis is back; the sweep runs a minute later
    try:
        container = back.extensions["billing"]
        assert container.queue.count == 0
        later = FakeClock(datetime.now(UTC) + timedelta(seconds=61))
        assert requeue_stale_events(container.uow, container.jobs, later) == 5
        assert sorted(job.args[0] for job in container.queue.jobs) == [
            f"evt_down_{n}" for n in range(5)
        ]
    finally:
        back.extensions["billing"].engine.dispose()


def _rows_of(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id, status FROM webhook_events ORDER BY id")).all()


BAD_BODIES = {
    "not JSON": b"{not json",
    "NaN": b'{"id": "evt_nan", "type": "x.y", "data": {"object": {"amount": NaN}}}',
    "not UTF-8": '{"id": "evt_latin", "type": "x.y", "data": {"object": {"n": "\xe9"}}}'.encode(
        "latin-1"
    ),
    "an array": b"[1, 2]",
    "no id": b'{"type": "x.y", "data": {"object": {}}}',
    "no data.object": b'{"id": "evt_nodata", "type": "x.y", "data": {}}',
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_signed_malformed_body_is_400_and_changes_nothing(backend, body):
    app, _ = backend
    response = post_event(app.test_client(), body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "webhook_malformed"
    assert _rows(app) == [] and _jobs_run_or_queued(app) == 0


def test_a_bad_signature_is_400_and_changes_nothing(backend):
    app, stripe = backend
    body = _subscription_event(stripe, 5, "evt_forged")
    client = app.test_client()
    forged = client.post(PATH, data=body, headers=signed(body, secret="whsec_other"))
    assert forged.status_code == 400
    assert forged.get_json()["code"] == "webhook_signature_invalid"
    missing = client.post(PATH, data=body, headers={"Content-Type": "application/json"})
    assert missing.status_code == 400
    assert missing.get_json()["code"] == "webhook_signature_missing"
    assert _rows(app) == [] and _jobs_run_or_queued(app) == 0


def test_the_route_is_still_timed_by_status(backend):
    app, stripe = backend
    name = "billing_http_request_duration_seconds_count"
    ok = {"route": PATH, "method": "POST", "status": "200"}
    bad = {"route": PATH, "method": "POST", "status": "400"}
    before = metrics.exposition(None, None).decode()
    client = app.test_client()
    assert post_event(client, _subscription_event(stripe, 6)).status_code == 200
    assert post_event(client, b"{not json").status_code == 400
    after = metrics.exposition(None, None).decode()
    assert value(after, name, **ok) - value(before, name, **ok) == 1
    assert value(after, name, **bad) - value(before, name, **bad) == 1
