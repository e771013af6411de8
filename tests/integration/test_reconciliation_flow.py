"""Reconciliation end to end: real Postgres, Redis and RQ worker; the run queued by an operator
on its own queue, missed events recovered into the inbox and processed by the webhook job, the
report read back; a run taken once by concurrent jobs, on Postgres and on SQLite."""

from __future__ import annotations

import threading

import pytest
from rq import Queue
from sqlalchemy import text

from adapters.clock import SystemClock
from adapters.db.uow import SqlUnitOfWorkFactory
from domain.model.plans import default_catalog
from domain.model.prices import PriceBook
from domain.model.reconciliation import DriftAction, RunStatus
from domain.model.redirects import RedirectPolicy
from domain.services.payment_deps import PaymentDeps
from domain.services.reconciliation import ReconcileDeps, open_run, reconcile
from tests.helpers import bearer
from tests.integration.webhook_support import drain, make_stripe, post_event, webhook_app
from tests.unit.fakes import FakeJobQueue

ADMIN = bearer("ops", "platform_admin")
RUNS = "/api/v1/admin/reconciliation/runs"


def paying(client, stripe, org_id: str) -> tuple[str, dict]:
    cus = client.post(
        "/api/v1/billing/customer",
        json={"email": f"{org_id}@example.com"},
        headers=bearer(org_id, "owner"),
    ).get_json()["stripe_customer_id"]
    sub = stripe.put_subscription(cus, stripe.price_ids["pro"], "active", org_id=org_id)
    return cus, sub


def test_an_operators_run_on_its_own_queue_repairs_reports_and_recovers(
    settings, clean_db, clean_redis
):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    container = app.extensions["billing"]
    client = app.test_client()
    _, canceled = paying(client, stripe, "org_canceled")
    assert (
        post_event(client, stripe.event("customer.subscription.created", canceled)).status_code
        == 200
    )
    extra_cus, kept = paying(client, stripe, "org_extra")
    assert (
        post_event(client, stripe.event("customer.subscription.created", kept)).status_code == 200
    )
    drain(container)
    # Behind our back: canceled in the Dashboard, an invoice made by hand, an event never
    # delivered.
    stripe.subscriptions[canceled["id"]].update(status="canceled", canceled_at=stripe._ts())
    extra = stripe.put_invoice(extra_cus, None, "open", amount=1200)
    _, missed = paying(client, stripe, "org_missed")
    stripe.event("customer.subscription.created", missed, event_id="evt_never_delivered")

    response = client.post(RUNS, json={"fix": True}, headers=ADMIN)
    assert response.status_code == 202, response.get_json()
    run_id = response.get_json()["id"]
    names = settings.queue_names
    reconcile_queue = Queue(names["reconcile"], connection=clean_redis)
    assert reconcile_queue.count == 1 and names["reconcile"] == "billing-reconcile"
    assert reconcile_queue.jobs[0].timeout == 4 * 3600  # longer than RQ's default 180 s
    assert Queue(names["webhooks"], connection=clean_redis).count == 0
    assert Queue(names["bulk"], connection=clean_redis).count == 0
    drain(container)  # the run, then the recovered event's own job

    report = client.get(f"{RUNS}/{run_id}", headers=ADMIN).get_json()
    assert report["run"]["status"] == "finished", report["run"]
    assert report["run"]["counts"]["events_recovered"] == 1
    rows = {(d["object_id"], d["kind"]): d["action"] for d in report["drifts"]}
    assert rows == {
        (canceled["id"], "status_differs"): "repaired",
        (extra["id"], "missing_locally"): "reported",
        (missed["id"], "missing_locally"): "repaired",
    }
    with container.engine.connect() as conn:
        subs = dict(
            conn.execute(text("SELECT stripe_subscription_id, status FROM subscriptions")).all()
        )
        inbox = dict(conn.execute(text("SELECT id, status FROM webhook_events")).all())
        audit = conn.execute(
            text("SELECT count(*) FROM billing_audit WHERE actor = :a AND action = :b"),
            {"a": f"reconcile:{run_id}", "b": "reconciliation.repaired"},
        ).scalar_one()
    assert subs[canceled["id"]] == "canceled" and subs[missed["id"]] == "active"
    assert inbox["evt_never_delivered"] == "processed"
    assert audit == 2

    again = client.post(RUNS, json={"fix": True}, headers=ADMIN).get_json()
    drain(container)
    second = client.get(f"{RUNS}/{again['id']}", headers=ADMIN).get_json()
    assert [(d["object_id"], d["new"], d["action"]) for d in second["drifts"]] == [
        (extra["id"], False, "reported")
    ]
    assert second["drifts"][0]["first_seen_at"] == next(
        d["first_seen_at"] for d in report["drifts"] if d["object_id"] == extra["id"]
    )
    latest = client.get(f"{RUNS}/latest", headers=ADMIN).get_json()
    assert latest["run"]["id"] == again["id"]
    container.engine.dispose()


@pytest.mark.parametrize("database", ["postgres", "sqlite"])
def test_concurrent_jobs_for_one_run_carry_it_out_once(request, database):
    engine = request.getfixturevalue("clean_db" if database == "postgres" else "sqlite_engine")
    stripe = make_stripe()
    catalog = default_catalog()
    payments = PaymentDeps(
        uow=SqlUnitOfWorkFactory(engine),
        clock=SystemClock(),
        catalog=catalog,
        gateway=stripe,
        prices=PriceBook(catalog, {}),
        redirects=RedirectPolicy(()),
    )
    stripe.create_customer("org_nobody", None, None, idempotency_key="c1")
    deps = ReconcileDeps(payments, FakeJobQueue())
    run = open_run(deps, fix=True)
    start = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def job() -> None:
        try:
            start.wait(timeout=10)
            results.append(len(reconcile(deps, run).drifts))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
    finally:
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert sorted(results) == [0, 0, 0, 1]  # one carried it out, three found it taken
    with payments.uow() as uow:
        stored = uow.reconciliation.get_run(run.id)
        assert stored.status is RunStatus.FINISHED and stored.counts.drifts == 1
        drifts = uow.reconciliation.drifts_of(run.id, 10)
    assert [(d.kind.value, d.action) for d in drifts] == [
        ("customer_without_organization", DriftAction.REPORTED)
    ]
    assert [op for op, _ in stripe.calls].count("customers.list") == 1
