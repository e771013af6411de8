"""Usage alerts and the spend cap end to end, on Postgres + Redis and on the embedded default
(SQLite + the in-process Redis): many consumers at once cross 80% and 100% and each threshold
is announced exactly once; with a cap, the granted voice spend never passes it; a Redis flush
does not fire again; a new period resolves once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from domain.model.quotas import calendar_month
from domain.services.quotas import flush_ledger
from entrypoints.api.app import create_app
from tests.helpers import bearer
from tests.integration.conftest import backend_settings
from tests.unit.fakes import FakeClock

CONSUME = "/api/v1/quota/consume"
THREADS = 50


@pytest.fixture(params=["postgres", "embedded"])
def backend(request, tmp_path) -> Iterator[Any]:
    settings = backend_settings(request, tmp_path)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(settings, clock=clock)
    app.config["TESTING"] = True
    app.extensions["test_clock"] = clock
    try:
        yield app
    finally:
        app.extensions["billing"].engine.dispose()


def messages(app, org_id: str) -> Counter[str]:
    with app.extensions["billing"].uow() as uow:
        found = uow.outbox.since(org_id, datetime(2000, 1, 1, tzinfo=UTC), 10_000)
    return Counter(m.event_type for m in found)


def consume(client, org: str, metric: str = "queries", amount: int = 1) -> Any:
    return client.post(
        CONSUME, json={"metric": metric, "amount": amount}, headers=bearer(org, "service")
    )


def run_threads(work, count: int = THREADS) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def guarded(i: int) -> None:
        try:
            start.wait(30)
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    try:
        for t in threads:
            t.start()
    finally:
        for t in threads:
            t.join(90)
    return errors


def test_50_consumers_crossing_80_and_100_percent_fire_each_threshold_once(backend):
    """The free plan: 100 queries. 50 threads consume 3 each (150 asked) while flushes run."""
    app, org = backend, "org_al"
    statuses: list[int] = []
    stop = threading.Event()

    def flusher() -> None:  # what the worker does every few seconds, here all the time
        while not stop.is_set():
            flush_ledger(app.extensions["billing"].quota)

    flushing = threading.Thread(target=flusher)

    def work(_: int) -> None:
        client = app.test_client()
        for _ in range(3):
            statuses.append(consume(client, org).status_code)

    flushing.start()
    try:
        errors = run_threads(work)
    finally:
        stop.set()
        flushing.join(30)
    assert errors == []
    flush_ledger(app.extensions["billing"].quota)
    assert Counter(statuses) == {200: 100, 429: 50}
    assert messages(app, org) == {"quota.threshold_reached": 1, "quota.exhausted": 1}
    body = app.test_client().get("/api/v1/alerts", headers=bearer(org, "member")).get_json()
    rows = {(t["metric"], t["percent"]): t for t in body["thresholds"]}
    assert body["defaults"] is True
    assert (rows[("queries", 80)]["state"], rows[("queries", 80)]["level"]) == ("fired", 80)
    assert (rows[("queries", 100)]["state"], rows[("queries", 100)]["level"]) == ("fired", 100)
    assert (rows[("documents", 80)]["state"], rows[("documents", 80)]["level"]) == ("pending", 4)


def voice_ledger(app, org: str) -> int:
    with app.extensions["billing"].engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(quantity), 0) FROM usage_events "
                    "WHERE org_id = :o AND metric IN ('stt_words', 'tts_words')"
                ),
                {"o": org},
            ).scalar_one()
        )


def test_with_a_spend_cap_the_granted_voice_spend_never_passes_it(backend):
    """A $0.50 cap at $1.00 per 1,000 words is 500 words; 50 threads ask 7 words at a time,
    10 times each (3,500 words), on both voice metrics."""
    app, org = backend, "org_cap"
    client = app.test_client()
    owner = bearer(org, "owner")
    put = client.put(
        "/api/v1/billing/spend-cap",
        json={"amount": {"amount_minor": 50, "currency": "usd"}},
        headers=owner,
    )
    assert put.status_code == 200, put.get_json()
    granted: list[int] = []
    refusals: list[dict[str, Any]] = []

    def work(i: int) -> None:
        c = app.test_client()
        for n in range(10):
            r = consume(c, org, "stt_words" if (i + n) % 2 else "tts_words", 7)
            if r.status_code == 200:
                granted.append(7)
            else:
                assert r.status_code == 429
                refusals.append(r.get_json())

    assert run_threads(work) == []
    flush_ledger(app.extensions["billing"].quota)
    assert sum(granted) == 497  # 71 grants of 7 words: the 72nd would pass 500
    assert voice_ledger(app, org) == 497
    assert len(refusals) == 500 - 71
    assert {r["code"] for r in refusals} == {"spend_cap_reached"}
    first = refusals[0]
    assert first["cap"] == {"amount_minor": 50, "currency": "usd", "display": "0.50 USD"}
    assert first["spent"]["amount_minor"] == 50  # 497 words: 49.7 cents, rounded once
    period_end = calendar_month(app.extensions["test_clock"].now())[1]
    assert first["resets_at"] == period_end.isoformat()
    assert messages(app, org) == {"spend_cap.reached": 1}
    cap = client.get("/api/v1/billing/spend-cap", headers=owner).get_json()
    assert (cap["spent_words"], cap["cap"]["amount_minor"]) == (497, 50)
    assert cap["reached_at"] is not None
    dashboard = client.get("/api/v1/billing/dashboard", headers=owner).get_json()
    assert dashboard["spend_cap"] == cap
    assert consume(client, org, "queries").status_code == 200  # the cap is voice only


def test_recorded_voice_usage_past_the_cap_is_stored_and_flagged(backend):
    app, org = backend, "org_rec"
    client = app.test_client()
    client.put(
        "/api/v1/billing/spend-cap",
        json={"amount": {"amount_minor": 10, "currency": "usd"}},  # 100 words
        headers=bearer(org, "owner"),
    )
    events = [{"metric": "stt_words", "quantity": 60, "idempotency_key": f"e{i}"} for i in range(3)]
    r = client.post("/api/v1/usage/events", json={"events": events}, headers=bearer(org, "service"))
    assert r.get_json() == {"accepted": 3, "duplicates": 0}
    with app.extensions["billing"].uow() as uow:
        flagged = uow.alerts.over_cap(org)
    assert [k for _, k in flagged] == ["e1", "e2"]  # 60 is within 100; 120 and 180 are not
    assert voice_ledger(app, org) == 180
    assert messages(app, org) == {"spend_cap.reached": 1}
    assert consume(client, org, "tts_words", 1).get_json()["code"] == "spend_cap_reached"


def test_a_redis_flush_mid_period_does_not_fire_again(backend):
    app, org = backend, "org_flush"
    client = app.test_client()
    for _ in range(85):
        assert consume(client, org).status_code == 200
    flush_ledger(app.extensions["billing"].quota)
    assert messages(app, org) == {"quota.threshold_reached": 1}
    app.extensions["billing"].redis.flushdb()  # marks, counters and the window are gone
    for _ in range(15):
        assert consume(client, org).status_code == 200
    flush_ledger(app.extensions["billing"].quota)
    assert consume(client, org).status_code == 429
    assert messages(app, org) == {"quota.threshold_reached": 1, "quota.exhausted": 1}


def test_a_new_period_resolves_each_fired_threshold_once(backend):
    app, org = backend, "org_reset"
    clock = app.extensions["test_clock"]
    client = app.test_client()
    for _ in range(80):
        consume(client, org)
    flush_ledger(app.extensions["billing"].quota)
    assert messages(app, org) == {"quota.threshold_reached": 1}
    clock.set(calendar_month(clock.now())[1] + timedelta(hours=1))  # the next month
    for _ in range(3):
        assert consume(client, org).get_json()["used"] <= 3
    app.extensions["billing"].redis.flushdb()  # the window is loaded again: no second reset
    consume(client, org)
    flush_ledger(app.extensions["billing"].quota)
    assert messages(app, org) == {"quota.threshold_reached": 1, "quota.reset": 1}
    with app.extensions["billing"].uow() as uow:
        (reset,) = uow.outbox.since(org, datetime(2000, 1, 1, tzinfo=UTC), 100)[1:]
    assert reset.payload["data"]["threshold_id"] == "percent:80"
    assert reset.payload["data"]["state"] == "resolved"
    body = client.get("/api/v1/alerts", headers=bearer(org, "owner")).get_json()
    row = next(t for t in body["thresholds"] if (t["metric"], t["percent"]) == ("queries", 80))
    assert row["state"] == "resolved"


def test_another_organization_sees_only_its_own_alerts_and_cap(backend):
    app = backend
    client = app.test_client()
    a, b = bearer("org_ta", "owner"), bearer("org_tb", "owner")
    client.put(
        "/api/v1/alerts", json={"thresholds": [{"metric": "queries", "amount": 2}]}, headers=a
    )
    client.put(
        "/api/v1/billing/spend-cap",
        json={"amount": {"amount_minor": 700, "currency": "usd"}},
        headers=a,
    )
    for _ in range(2):
        consume(client, "org_ta")
    flush_ledger(app.extensions["billing"].quota)
    theirs = client.get("/api/v1/alerts", headers=b).get_json()
    assert theirs["defaults"] is True
    assert {t["state"] for t in theirs["thresholds"]} == {"pending"}
    assert client.get("/api/v1/billing/spend-cap", headers=b).get_json()["cap"] is None
    mine = client.get("/api/v1/alerts", headers=a).get_json()
    assert [(t["amount"], t["state"]) for t in mine["thresholds"]] == [(2, "fired")]
    assert messages(app, "org_tb") == {}
    client.delete("/api/v1/billing/spend-cap", headers=b)  # removes only its own
    assert (
        client.get("/api/v1/billing/spend-cap", headers=a).get_json()["cap"]["amount_minor"] == 700
    )
