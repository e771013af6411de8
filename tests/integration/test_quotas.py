"""Quotas and metering on the real Redis and Postgres."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from domain.services.quotas import flush_ledger
from entrypoints.api.app import create_app
from tests.helpers import TEST_JWT_SECRET, bearer
from tests.integration.conftest import REDIS_URL
from tests.integration.webhook_support import drain, make_stripe, post_event, webhook_app

ROOT = Path(__file__).resolve().parents[2]
CONSUME = "/api/v1/quota/consume"


@pytest.fixture
def catalog_file(tmp_path) -> Path:
    """Free at 1,000 queries (the default catalog's other plans unchanged)."""
    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            {
                "default_tier": "free",
                "plans": [
                    {"tier": "free", "price": "0.00", "queries": 1000, "documents": 5},
                    {
                        "tier": "pro",
                        "price": "99.00",
                        "queries": 100000,
                        "documents": None,
                        "lookup_key": "billing_pro_monthly",
                    },
                ],
            }
        )
    )
    return path


@pytest.fixture
def quota_settings(settings, catalog_file):
    return settings.model_copy(update={"billing_catalog_file": catalog_file})


@pytest.fixture(params=["redis", "cluster"])
def store(request, quota_settings, clean_redis):
    """The quota counters on the test's Redis (with RQ), or on the test's Redis Cluster
    (QUOTA_REDIS_URL); answers the settings and a client of the counters' store."""
    if request.param == "redis":
        return quota_settings, clean_redis
    url = request.getfixturevalue("redis_cluster").url
    return (
        quota_settings.model_copy(update={"quota_redis_url": url}),
        request.getfixturevalue("clean_cluster"),
    )


def ledger_total(engine, org_id: str, metric: str = "queries") -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(quantity), 0) FROM usage_events "
                    "WHERE org_id = :o AND metric = :m"
                ),
                {"o": org_id, "m": metric},
            ).scalar_one()
        )


def consume(client, org="org_q", metric="queries", amount=1, key=None):
    body = {"metric": metric, "amount": amount, **({"idempotency_key": key} if key else {})}
    return client.post(CONSUME, json=body, headers=bearer(org, "service"))


HAMMER = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from entrypoints.api.app import create_app
from entrypoints.config import load_settings
from tests.helpers import bearer
app = create_app(load_settings())
clients = [app.test_client() for _ in range(25)]
def run(client):
    out = []
    for _ in range(40):
        r = client.post("/api/v1/quota/consume", json={"metric": "queries"},
                        headers=bearer("org_race", "service"))
        out.append((r.status_code, r.get_json()["used"]))
    return out
with ThreadPoolExecutor(25) as pool:
    results = [x for chunk in pool.map(run, clients) for x in chunk]
print(json.dumps(results))
"""


def test_50_clients_in_two_processes_get_exactly_the_limit(
    quota_settings, clean_db, clean_redis, database_url, catalog_file
):
    app = create_app(quota_settings)
    consume(app.test_client(), org="org_race", amount=0 + 1)  # creates the organization
    flush_ledger(app.extensions["billing"].quota)
    key = "quota:{org_race}:c:queries"
    seen: list[int] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            value = clean_redis.hget(key, "used")
            if value is not None:
                seen.append(int(value))

    sampler = threading.Thread(target=sample, daemon=True)
    # A loaded 2-core machine can keep a reply from Redis past the request path's 50 ms: the
    # race is about atomicity, not latency, so the clients here wait longer rather than 503.
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "BILLING_CATALOG_FILE": str(catalog_file),
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        "REDIS_TIMEOUT_MS": "5000",
        "RATE_LIMIT_ENABLED": "false",
    }
    workers: list[subprocess.Popen] = []
    try:
        sampler.start()
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", HAMMER], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outputs = [json.loads(w.communicate(timeout=240)[0]) for w in workers]
    finally:
        stop.set()
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(10)
        sampler.join(timeout=10)
    results = [r for out in outputs for r in out]
    granted = [used for status, used in results if status == 200]
    refused = [used for status, used in results if status == 429]
    assert len(results) == 2000
    assert len(granted) == 999 and len(refused) == 1001  # 1 was used before the race
    assert sorted(granted) == list(range(2, 1001))  # each grant saw its own count
    assert set(refused) == {1000}
    assert seen and max(seen) <= 1000 and min(seen) >= 0
    flush_ledger(app.extensions["billing"].quota)
    assert ledger_total(clean_db, "org_race") == 1000
    app.extensions["billing"].engine.dispose()


def test_a_replayed_idempotency_key_is_counted_once(store, clean_db):
    app = create_app(store[0])
    client = app.test_client()
    answers = [consume(client, key="request-7").get_json() for _ in range(5)]
    assert [a["used"] for a in answers] == [1] * 5 and answers[-1]["duplicate"] is True
    flush_ledger(app.extensions["billing"].quota)
    assert ledger_total(clean_db, "org_q") == 1
    app.extensions["billing"].engine.dispose()


def test_redis_flushed_mid_period_rebuilds_from_the_ledger(store, clean_db):
    settings, counters = store
    app = create_app(settings)
    client = app.test_client()
    assert consume(client, amount=600).status_code == 200
    flush_ledger(app.extensions["billing"].quota)  # what the worker does every 5 s
    counters.flushall()  # on a cluster: every master
    refused = consume(client, amount=500)
    assert refused.status_code == 429 and refused.get_json()["used"] == 600
    granted = consume(client, amount=400).get_json()
    assert granted["used"] == 1000
    assert consume(client).status_code == 429
    app.extensions["billing"].engine.dispose()


def test_a_lost_counter_with_ledger_entries_still_in_redis_is_not_undercounted(store, clean_db):
    settings, counters = store
    app = create_app(settings)
    client = app.test_client()
    consume(client, amount=700)  # not flushed: the entry is still in the Redis stream
    counters.delete("quota:{org_q}:c:queries")  # only the counter is lost (eviction)
    assert consume(client, amount=301).status_code == 429
    assert consume(client, amount=300).get_json()["used"] == 1000
    app.extensions["billing"].engine.dispose()


def test_plan_change_mid_period_applies_at_once_and_keeps_usage(
    quota_settings, clean_db, clean_redis
):
    stripe = make_stripe()
    app = webhook_app(quota_settings, stripe)
    client = app.test_client()
    assert consume(client, org="org_up", amount=1000).status_code == 200
    assert consume(client, org="org_up").status_code == 429
    sub = stripe.put_subscription("cus_up", stripe.price_ids["pro"], "active", org_id="org_up")
    assert post_event(client, stripe.event("customer.subscription.created", sub)).status_code == 200
    drain(app.extensions["billing"])
    body = consume(client, org="org_up").get_json()
    assert body["limit"] == 100000 and body["used"] == 1001
    app.extensions["billing"].engine.dispose()


def test_documents_gauge_on_free(store, clean_db):
    app = create_app(store[0])
    client = app.test_client()
    assert [consume(client, metric="documents").status_code for _ in range(6)] == [200] * 5 + [429]
    release = client.post(
        "/api/v1/quota/release",
        json={"metric": "documents", "amount": 1},
        headers=bearer("org_q", "service"),
    )
    assert release.get_json()["used"] == 4
    assert consume(client, metric="documents").status_code == 200
    flush_ledger(app.extensions["billing"].quota)
    assert ledger_total(clean_db, "org_q", "documents") == 5
    app.extensions["billing"].engine.dispose()


def test_consumption_survives_the_web_process_dying_after_answering(
    store, clean_db, database_url, catalog_file
):
    settings = store[0]
    script = """
import os
from entrypoints.api.app import create_app
from entrypoints.config import load_settings
from tests.helpers import bearer
client = create_app(load_settings()).test_client()
for i in range(25):
    assert client.post("/api/v1/quota/consume", json={"metric": "queries"},
                       headers=bearer("org_die", "service")).status_code == 200
os._exit(9)  # dies at once: no cleanup, no flush
"""
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "QUOTA_REDIS_URL": settings.quota_redis_url or REDIS_URL,
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "BILLING_CATALOG_FILE": str(catalog_file),
        "PYTHONPATH": str(ROOT),
    }
    assert (
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=120).returncode
        == 9
    )
    app = create_app(settings)
    flush_ledger(app.extensions["billing"].quota)  # the worker's periodic job
    assert ledger_total(clean_db, "org_die") == 25
    app.extensions["billing"].engine.dispose()


def test_a_hung_redis_answers_503_instead_of_hanging(quota_settings, clean_db):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never answers
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    app = create_app(quota_settings.model_copy(update={"redis_url": url}))
    client = app.test_client()
    started = time.monotonic()
    response = consume(client)
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.get_json()["code"] == "quota_unavailable"
    assert elapsed < 2.0  # a bound that proves no hang (redis-py's retries would take ~6 s)
    open_app = create_app(
        quota_settings.model_copy(update={"redis_url": url, "quota_fail_open": True})
    )
    assert consume(open_app.test_client()).get_json()["allowed"] is True
    silent.close()
    for a in (app, open_app):
        a.extensions["billing"].engine.dispose()


def _events(start: int, count: int, duplicate_every: int = 5) -> list[dict]:
    """`count` events whose keys repeat every `duplicate_every`-th one (20% duplicates)."""
    events = []
    for i in range(start, start + count):
        key = f"k{i - 1}" if i % duplicate_every == 0 and i > start else f"k{i}"
        events.append(
            {
                "metric": "stt_words",
                "quantity": 10,
                "idempotency_key": key,
                "conversation_id": f"c{i % 7}",
            }
        )
    return events


def test_10000_events_in_10_requests_with_20_percent_duplicates(
    quota_settings, clean_db, clean_redis
):
    app = create_app(quota_settings)
    client = app.test_client()
    batches = [_events(i * 1000, 1000) for i in range(10)]
    unique = len({e["idempotency_key"] for batch in batches for e in batch})
    receipts = [
        client.post(
            "/api/v1/usage/events", json={"events": b}, headers=bearer("org_m", "service")
        ).get_json()
        for b in batches
    ]
    assert sum(r["accepted"] for r in receipts) == unique
    assert sum(r["duplicates"] for r in receipts) == 10_000 - unique
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one() == unique
    replay = [
        client.post("/api/v1/usage/events", json={"events": b}, headers=bearer("org_m", "service"))
        for b in batches
    ]
    assert [r.status_code for r in replay] == [200] * 10
    assert sum(r.get_json()["accepted"] for r in replay) == 0
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one() == unique
    app.extensions["billing"].engine.dispose()


@pytest.mark.parametrize(
    "bad",
    [
        {"quantity": -1},
        {"quantity": 1.0},
        {"quantity": "5"},
        {"quantity": 2**53},
        {"metric": "gpu"},
        {"occurred_at": "2099-01-01T00:00:00Z"},
        {"idempotency_key": ""},
    ],
)
def test_bad_events_store_nothing(quota_settings, clean_db, clean_redis, bad):
    app = create_app(quota_settings)
    good = {"metric": "stt_words", "quantity": 5, "idempotency_key": "ok"}
    event = {**good, "idempotency_key": "x", **bad}
    response = app.test_client().post(
        "/api/v1/usage/events", json={"events": [good, event]}, headers=bearer("org_m", "service")
    )
    assert response.status_code == 422
    assert list(response.get_json()["errors"]["json"]["events"]) == ["1"]
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one() == 0
    app.extensions["billing"].engine.dispose()
