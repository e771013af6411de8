"""The webhook path when things break: Postgres down, Redis down, a worker killed mid-event,
a handler that always fails; and production refusing to run without a webhook secret."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rq.registry import StartedJobRegistry
from sqlalchemy import create_engine, make_url, text

from entrypoints.worker.jobs import sweep_webhook_inbox
from tests.helpers import TEST_JWT_SECRET, bearer
from tests.integration.conftest import ADMIN_URL, REDIS_URL
from tests.integration.webhook_support import drain, make_stripe, post_event, webhook_app
from tests.unit.fakes import FakeClock

ROOT = Path(__file__).resolve().parents[2]


def _rows(engine):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT id, status, attempts, last_error FROM webhook_events")
        ).all()


def _later(seconds: int = 61) -> FakeClock:
    return FakeClock(datetime.now(UTC) + timedelta(seconds=seconds))


def _set_connections(database_url: str, allowed: bool) -> None:
    name = make_url(database_url).database
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'))
        if not allowed:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
    admin.dispose()


def test_postgres_down_answers_503_then_the_redelivery_is_processed_once(
    settings, clean_db, clean_redis, database_url
):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    client = app.test_client()
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    body = stripe.event("customer.subscription.updated", sub, event_id="evt_pg")
    _set_connections(database_url, allowed=False)
    try:
        response = post_event(client, body)
        assert response.status_code == 503
        assert response.get_json()["code"] == "webhook_store_unavailable"
    finally:
        _set_connections(database_url, allowed=True)
    assert _rows(clean_db) == [] and app.extensions["billing"].queue.count == 0
    assert post_event(client, body).status_code == 200  # Stripe's redelivery
    assert post_event(client, body).status_code == 200
    assert drain(app.extensions["billing"]) == 1
    assert [(r.id, r.status, r.attempts) for r in _rows(clean_db)] == [("evt_pg", "processed", 1)]
    app.extensions["billing"].engine.dispose()


def test_redis_down_after_commit_answers_200_and_the_sweep_processes_later(
    settings, clean_db, clean_redis
):
    stripe = make_stripe()
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    body = stripe.event("customer.subscription.updated", sub, event_id="evt_redis")
    down = webhook_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}), stripe)
    started = time.monotonic()
    response = post_event(down.test_client(), body)
    assert response.status_code == 200 and time.monotonic() - started < 5
    assert [(r.id, r.status) for r in _rows(clean_db)] == [("evt_redis", "pending")]
    down.extensions["billing"].engine.dispose()

    back = webhook_app(settings, stripe, clock=_later())  # Redis is back, a minute later
    assert sweep_webhook_inbox(back.extensions["billing"]) == 1
    assert drain(back.extensions["billing"]) == 1
    assert sweep_webhook_inbox(back.extensions["billing"]) == 0
    assert [(r.status, r.attempts) for r in _rows(clean_db)] == [("processed", 1)]
    back.extensions["billing"].engine.dispose()


def test_a_worker_killed_mid_event_leaves_it_to_be_processed_exactly_once(
    settings, clean_db, clean_redis, database_url
):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_k")
    assert (
        post_event(
            app.test_client(),
            stripe.event("customer.subscription.updated", sub, event_id="evt_kill"),
        ).status_code
        == 200
    )
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "RQ_QUEUE": settings.rq_queue,
        "FAKE_STRIPE_SUBSCRIPTION": json.dumps(stripe.subscriptions[sub["id"]]),
        "PYTHONPATH": str(ROOT),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.worker_process"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    registry = StartedJobRegistry(settings.queue_names["webhooks"], connection=clean_redis)
    deadline = time.monotonic() + 30
    while registry.count == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert registry.count == 1, "the worker never started the job"
    time.sleep(0.5)  # inside the handler: the inbox row is locked, Stripe is being asked
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert [(r.status, r.attempts) for r in _rows(clean_db)] == [("pending", 0)]

    later = webhook_app(settings, stripe, clock=_later())
    assert sweep_webhook_inbox(later.extensions["billing"]) == 1
    assert drain(later.extensions["billing"]) == 1
    assert [(r.status, r.attempts) for r in _rows(clean_db)] == [("processed", 1)]
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM subscriptions")).scalar_one() == 1
    for a in (app, later):
        a.extensions["billing"].engine.dispose()


def test_an_always_failing_handler_ends_dead_others_pass_and_replay_works(
    settings, clean_db, clean_redis
):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    client = app.test_client()
    subs = [
        stripe.put_subscription(f"cus_{i}", stripe.price_ids["pro"], "active", org_id=f"org_{i}")
        for i in range(5)
    ]
    stripe.broken.add(subs[0]["id"])
    for i, sub in enumerate(subs):
        post_event(client, stripe.event("customer.subscription.updated", sub, event_id=f"evt_{i}"))
    assert drain(app.extensions["billing"]) == 4 + 3  # the broken one: first try + 2 retries
    rows = {r.id: r for r in _rows(clean_db)}
    assert rows["evt_0"].status == "dead" and rows["evt_0"].attempts == 3
    assert "RuntimeError" in rows["evt_0"].last_error and "Traceback" in rows["evt_0"].last_error
    assert all(rows[f"evt_{i}"].status == "processed" for i in range(1, 5))

    admin = bearer("ops", "platform_admin")
    dead = client.get("/api/v1/admin/webhook-events?status=dead", headers=admin).get_json()
    assert [e["id"] for e in dead["events"]] == ["evt_0"]
    stripe.broken.clear()  # the fix
    assert (
        client.post("/api/v1/admin/webhook-events/evt_0/replay", headers=admin).status_code == 202
    )
    assert drain(app.extensions["billing"]) == 1
    assert {r.id: r.status for r in _rows(clean_db)}["evt_0"] == "processed"
    app.extensions["billing"].engine.dispose()


def test_replay_events_cli(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    stripe.broken.add(sub["id"])
    post_event(app.test_client(), stripe.event("customer.subscription.updated", sub))
    drain(app.extensions["billing"])
    stripe.broken.clear()
    result = app.test_cli_runner().invoke(
        args=["billing", "replay-events", "--status", "dead", "--since", "2026-01-01T00:00:00"]
    )
    assert result.exit_code == 0, result.output
    assert "replayed 1 events" in result.output
    drain(app.extensions["billing"])
    assert [r.status for r in _rows(clean_db)] == ["processed"]
    app.extensions["billing"].engine.dispose()


def test_production_refuses_to_start_without_a_webhook_secret(database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    env.update(
        APP_ENV="production",
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        JWT_SECRET_KEY=TEST_JWT_SECRET,
    )
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "STRIPE_WEBHOOK_SECRET" in result.stderr
    env["STRIPE_WEBHOOK_SECRET"] = "whsec_production_secret"
    started = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr


def test_scheduler_registers_the_periodic_jobs_once_and_again_when_lost(clean_redis, settings):
    from rq_scheduler import Scheduler

    from entrypoints.worker.scheduler import periodic_jobs, register

    jobs = periodic_jobs(settings)
    scheduler = Scheduler(queue_name="billing-urgent", connection=clean_redis)
    register(scheduler, jobs, settings.queue_names)
    register(scheduler, jobs, settings.queue_names)  # a restarted scheduler
    assert register(scheduler, jobs, settings.queue_names, only_missing=True) == []
    found = {j.id: j for j in scheduler.get_jobs()}
    assert set(found) == {
        "billing-sweep-webhook-inbox",
        "billing-flush-quota-ledger",
        "billing-monthly-invoicing",
        "billing-dunning-check",
        "billing-reconciliation",
        "billing-sweep-outbound-webhooks",
        "billing-usage-partitions",
    }
    assert found["billing-sweep-webhook-inbox"].meta.get("interval") == 60
    assert found["billing-sweep-outbound-webhooks"].meta.get("interval") == 5
    assert found["billing-sweep-outbound-webhooks"].origin == "billing-urgent"
    assert found["billing-flush-quota-ledger"].meta.get("interval") == 5
    assert found["billing-flush-quota-ledger"].origin == "billing-urgent"
    assert found["billing-monthly-invoicing"].origin == "billing-bulk"
    partitions = found["billing-usage-partitions"]
    assert partitions.origin == "billing-bulk" and partitions.meta.get("interval") == 86_400
    reconciliation = found["billing-reconciliation"]
    assert reconciliation.origin == "billing-reconcile"  # never behind a webhook or bulk work
    assert reconciliation.meta.get("interval") == 86_400 and reconciliation.timeout == 4 * 3600
    clean_redis.flushdb()  # Redis restarted without its data
    assert sorted(register(scheduler, jobs, settings.queue_names, only_missing=True)) == sorted(
        found
    )
    assert len(list(scheduler.get_jobs())) == 7
