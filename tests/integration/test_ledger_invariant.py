"""The ledger invariant, on Postgres + Redis and on the embedded default: after a mixed run of
consumptions, releases and recorded events (keys shared between them), a Redis flush and a
restart of the service, once the flush has run: quota used = dashboard = summary total = the
ledger's sum, per metric; and for billed metrics, billed + unbilled = accepted."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from domain.model.customers import StripeCustomer
from domain.model.organizations import Organization
from domain.services.quotas import flush_ledger
from tests.helpers import bearer
from tests.integration.conftest import backend_settings
from tests.integration.webhook_support import make_stripe, webhook_app

ORG = "org_inv"
METRICS = ("queries", "stt_words", "tts_words", "documents")


@pytest.fixture(params=["postgres", "embedded", "cluster"])
def service(request, tmp_path) -> Iterator[tuple[Any, Any]]:
    """A function that starts the service (again) on the same database, and the fake Stripe."""
    stripe = make_stripe()
    settings = backend_settings(request, tmp_path)  # correctness, not speed
    redis_client = {
        "postgres": lambda: request.getfixturevalue("clean_redis"),
        "cluster": lambda: request.getfixturevalue("clean_cluster"),
    }.get(request.param, lambda: None)()
    apps: list[Any] = []

    def start() -> Any:
        app = webhook_app(settings, stripe)
        apps.append(app)
        return app

    try:
        yield start, stripe, redis_client
    finally:
        for app in apps:
            app.extensions["billing"].engine.dispose()


def mixed_run(client: Any, rounds: int, rng: random.Random) -> dict[str, int]:
    accepted = dict.fromkeys(METRICS, 0)
    for n in range(rounds):
        metric = rng.choice(METRICS)
        key = f"k{rng.randrange(40)}"  # shared by consumptions and recorded events
        if rng.random() < 0.5:
            body = {
                "metric": metric,
                "amount": rng.randint(1, 4),
                **({"idempotency_key": key} if rng.random() < 0.6 else {}),
            }
            response = client.post(
                "/api/v1/quota/consume", json=body, headers=bearer(ORG, "service")
            )
            assert response.status_code in (200, 429), response.get_json()
        elif metric == "documents" and rng.random() < 0.5:
            response = client.post(
                "/api/v1/quota/release",
                json={"metric": "documents", "amount": 1},
                headers=bearer(ORG, "service"),
            )
            assert response.status_code == 200, response.get_json()
        else:
            response = client.post(
                "/api/v1/usage/events",
                json={
                    "events": [
                        {"metric": metric, "quantity": rng.randint(0, 900), "idempotency_key": key},
                        {"metric": metric, "quantity": 3, "idempotency_key": f"solo-{n}"},
                    ]
                },
                headers=bearer(ORG, "service"),
            )
            assert response.status_code == 200, response.get_json()
            accepted[metric] += response.get_json()["accepted"]
    return accepted


def ledger(container: Any, org: str, start: str, end: str) -> dict[str, int]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT metric, sum(quantity) FROM usage_events WHERE org_id = :o AND "
                "(metric = 'documents' OR (occurred_at >= :a AND occurred_at < :b)) GROUP BY metric"
            ),
            {"o": org, "a": datetime.fromisoformat(start), "b": datetime.fromisoformat(end)},
        )
        return {m: int(q) for m, q in rows}


def assert_invariant(app: Any, org: str = ORG) -> None:
    """Once flushed: quota used = dashboard = summary total = the ledger's sum, per metric."""
    container = app.extensions["billing"]
    flush_ledger(container.quota)
    client = app.test_client()
    quota = client.get("/api/v1/billing/quota", headers=bearer(org, "member")).get_json()
    used = {m["metric"]: m["used"] for m in quota["metrics"]}
    dashboard = client.get("/api/v1/billing/dashboard", headers=bearer(org, "member")).get_json()
    shown = {m["metric"]: m["used"] for m in dashboard["usage"]["metrics"]}
    summary = client.get(
        "/api/v1/usage/summary",
        headers=bearer(org, "member"),
        query_string={
            "from": quota["period_start"],
            "to": quota["period_end"],
            "group_by": "metric",
        },
    )
    totals = {t["metric"]: t["quantity"] for t in summary.get_json()["totals"]}
    sums = ledger(container, org, quota["period_start"], quota["period_end"])
    for metric in METRICS:
        expected = sums.get(metric, 0)
        assert used[metric] == shown[metric] == expected, (metric, used, shown, sums)
        if metric != "documents":  # a gauge counts what exists, whatever its period
            assert totals.get(metric, 0) == expected, (metric, totals, sums)


def test_the_ledger_invariant_survives_a_redis_flush_and_a_restart(service) -> None:
    start, stripe, redis_client = service
    rng = random.Random(7)
    app = start()
    container = app.extensions["billing"]
    now = datetime.now(UTC)
    with container.uow() as uow:
        uow.organizations.add_if_absent(Organization.new(ORG, now))
        cus = stripe.create_customer(ORG, None, None, idempotency_key=f"c:{ORG}")
        uow.customers.add_if_absent(StripeCustomer(ORG, cus, None, None, now))
        uow.commit()
    accepted = mixed_run(app.test_client(), 150, rng)
    assert_invariant(app)
    assert (
        app.test_client()
        .post("/api/v1/billing/generate-usage-invoice", headers=bearer(ORG))
        .status_code
        == 200
    )
    accepted2 = mixed_run(app.test_client(), 150, rng)
    flush_ledger(container.quota)
    if redis_client is not None:
        redis_client.flushall()  # Redis restarted without its data (every master of a cluster)
    app = start()  # a new process: the embedded default's in-process Redis starts empty
    assert_invariant(app)
    accepted3 = mixed_run(app.test_client(), 100, rng)
    assert_invariant(app)
    with app.extensions["billing"].engine.connect() as conn:
        rows = dict(
            conn.execute(
                text(
                    "SELECT metric, count(*) FROM usage_events WHERE source = 'recorded' "
                    "GROUP BY metric"
                )
            ).all()
        )
        billed = conn.execute(
            text("SELECT sum(quantity) FROM usage_events WHERE invoice_id IS NOT NULL")
        ).scalar_one()
        on_lines = conn.execute(text("SELECT sum(quantity) FROM usage_invoice_lines")).scalar_one()
        voice = sum(rows.get(m, 0) for m in ("stt_words", "tts_words"))
        voice_entries = conn.execute(
            text("SELECT count(*) FROM usage_events WHERE metric IN ('stt_words', 'tts_words')")
        ).scalar_one()
    for metric in METRICS:
        assert rows.get(metric, 0) == accepted[metric] + accepted2[metric] + accepted3[metric]
    assert billed > 0 and int(billed) == int(on_lines)  # what is billed is on a line
    assert voice_entries >= voice  # every accepted voice event is in the ledger (+ consumed)
