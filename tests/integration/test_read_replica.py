"""Analytics and dashboard reads on a real streaming replica (a primary and a `pg_basebackup -R`
standby started here), the primary for every read that must see its own write, and the primary
again whenever the replica is down or behind."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from entrypoints import migrate
from entrypoints.api.app import create_app
from entrypoints.config import Settings
from entrypoints.metrics import REGISTRY
from tests.helpers import TEST_JWT_SECRET, bearer
from tests.integration.conftest import REDIS_URL
from tests.integration.replica_support import StreamingPair

ADMIN = bearer("ops", "platform_admin")
REVENUE = "/api/v1/admin/analytics/revenue?from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z"


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    servers = StreamingPair(25432, 25433)
    try:
        servers.start()
        migrate.upgrade(servers.url("primary"))
        servers.wait_caught_up()
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def replica_settings(pair: StreamingPair, tmp_path: Path, clean_redis: Any) -> Settings:
    with pair.engine("primary").begin() as conn:
        tables = conn.execute(
            text(
                "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ).scalar_one()
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    pair.resume_replay()
    pair.wait_caught_up()
    return Settings(
        _env_file=None,
        app_env="test",
        database_url=pair.url("primary"),
        database_replica_url=pair.url("standby"),
        database_replica_max_lag_s=3600,
        redis_url=REDIS_URL,
        jwt_secret_key=TEST_JWT_SECRET,
        instance_path=tmp_path / "instance",
        rate_limit_enabled=False,
        redis_timeout_ms=5000,
    )


@pytest.fixture
def app(replica_settings: Settings) -> Iterator[Any]:
    app = create_app(replica_settings)
    container = app.extensions["billing"]
    try:
        yield app
    finally:
        container.engine.dispose()
        container.reads.replica.dispose()


def reads(purpose: str, database: str, reason: str) -> float:
    labels = {"purpose": purpose, "database": database, "reason": reason}
    return REGISTRY.get_sample_value("billing_database_reads_total", labels) or 0.0


def subscribe(pair: StreamingPair, org: str, amount: int) -> None:
    """A paying subscription written on the primary by another process (a webhook's job)."""
    with pair.engine("primary").begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organizations (id, created_at) VALUES (:o, '2026-01-01') "
                "ON CONFLICT DO NOTHING"
            ),
            {"o": org},
        )
        conn.execute(
            text(
                "INSERT INTO subscription_history (org_id, stripe_subscription_id, at, status, "
                "tier, monthly_amount_minor, currency) VALUES (:o, :s, '2026-02-01', 'active', "
                "'pro', :a, 'usd')"
            ),
            {"o": org, "s": f"sub_{org}", "a": amount},
        )


def record(client: Any, org: str, words: int) -> None:
    event = {"metric": "stt_words", "quantity": words, "idempotency_key": uuid.uuid4().hex}
    response = client.post(
        "/api/v1/usage/events", json={"events": [event]}, headers=bearer(org, "service")
    )
    assert response.status_code == 200, response.get_json()


def unbilled(client: Any, org: str) -> int:
    response = client.get("/api/v1/billing/dashboard", headers=bearer(org, "service"))
    assert response.status_code == 200, response.get_json()
    words: int = response.get_json()["voice"]["unbilled_words"]
    return words


def summary_words(client: Any, org: str) -> int:
    response = client.get("/api/v1/usage/summary?group_by=metric", headers=bearer(org, "service"))
    assert response.status_code == 200, response.get_json()
    return sum(t["quantity"] for t in response.get_json()["totals"])


def mrr(client: Any) -> int:
    response = client.get(REVENUE, headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    value: int = response.get_json()["report"]["mrr_minor"]
    return value


def test_paused_replica_serves_analytics_and_others_dashboards_own_writes_see_the_primary(
    pair: StreamingPair, app: Any
) -> None:
    client = app.test_client()
    subscribe(pair, "acme", 9900)
    record(client, "watcher", 100)  # known to this process and written before the pause
    pair.wait_caught_up()
    assert mrr(client) == 9900 and unbilled(client, "watcher") == 100
    pair.wait_caught_up()  # past the router's first sample of the primary too

    pair.pause_replay()
    subscribe(pair, "globex", 2900)  # on the primary only
    with pair.engine("primary").begin() as conn:  # "watcher" gets usage from another process
        conn.execute(
            text(
                "INSERT INTO usage_events (entry_id, org_id, metric, quantity, occurred_at, "
                "received_at, source) VALUES ('x-1', 'watcher', 'stt_words', 50, now(), now(), "
                "'recorded')"
            )
        )
    before = reads("dashboard", "primary", "behind")
    replica_reads = reads("analytics", "replica", "caught_up")

    assert mrr(client) == 9900  # the replica's older state
    assert reads("analytics", "replica", "caught_up") > replica_reads
    assert unbilled(client, "watcher") == 100  # not its own write: the replica is fine
    record(client, "writer", 70)  # its own write, in this request
    assert unbilled(client, "writer") == 70  # read on the primary: the replica has not replayed it
    assert summary_words(client, "writer") == 70
    assert reads("dashboard", "primary", "behind") == before + 1

    pair.resume_replay()
    pair.wait_caught_up()
    assert mrr(client) == 9900 + 2900
    assert unbilled(client, "watcher") == 150
    assert unbilled(client, "writer") == 70


def test_write_marks_reach_every_app_through_redis(
    pair: StreamingPair, replica_settings: Settings
) -> None:
    """One app writes; another (as another web process would, with its own router and no
    memory of the request) reads: the mark travels through Redis."""
    first, second = create_app(replica_settings), create_app(replica_settings)
    try:
        record(second.test_client(), "shared", 1)  # "shared" known to the second process
        pair.wait_caught_up()
        pair.pause_replay()
        record(first.test_client(), "shared", 41)
        assert unbilled(second.test_client(), "shared") == 42
    finally:
        pair.resume_replay()
        for app in (first, second):
            app.extensions["billing"].engine.dispose()
            app.extensions["billing"].reads.replica.dispose()


def test_a_replica_behind_more_than_the_max_lag_is_not_read(
    pair: StreamingPair, replica_settings: Settings
) -> None:
    app = create_app(replica_settings.model_copy(update={"database_replica_max_lag_s": 0.5}))
    client = app.test_client()
    try:
        subscribe(pair, "acme", 9900)
        pair.wait_caught_up()
        assert mrr(client) == 9900
        pair.pause_replay()
        subscribe(pair, "globex", 2900)
        time.sleep(1.2)  # the router's next sample of the primary is taken after the write
        assert mrr(client) == 12800
        assert reads("analytics", "primary", "behind") > 0
    finally:
        pair.resume_replay()
        app.extensions["billing"].engine.dispose()
        app.extensions["billing"].reads.replica.dispose()


def test_a_stopped_replica_sends_reads_to_the_primary_without_an_error(
    pair: StreamingPair, app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = app.test_client()
    subscribe(pair, "acme", 9900)
    record(client, "org_down", 10)
    pair.wait_caught_up()
    assert mrr(client) == 9900
    unreachable = reads("analytics", "primary", "unreachable")
    pair.stop_node("standby")
    try:
        subscribe(pair, "globex", 2900)
        with caplog.at_level(logging.WARNING, logger="billing.replica"):
            assert mrr(client) == 12800  # the primary's state, no error
            assert unbilled(client, "org_down") == 10
            assert summary_words(client, "org_down") == 10
        assert reads("analytics", "primary", "unreachable") > unreachable
        assert any("read replica unusable" in r.getMessage() for r in caplog.records)
    finally:
        pair.start_node("standby")
    pair.wait_caught_up()


def test_every_read_sees_its_own_writes_under_concurrency(pair: StreamingPair, app: Any) -> None:
    """Four organizations write and read back at once while replay is paused and resumed
    underneath them; each read must count every word its organization wrote, and reads must
    have been served by both databases."""
    rounds, errors = 15, []
    served = Counter[str]()
    before = {
        db: sum(
            reads(p, db, r) for p in ("dashboard", "usage_summary") for r in ("caught_up", "behind")
        )
        for db in ("replica", "primary")
    }
    stop = threading.Event()

    def writer(org: str) -> None:
        client, total = app.test_client(), 0
        try:
            record(client, org, 0)
            for n in range(rounds):
                record(client, org, n + 1)
                total += n + 1
                assert unbilled(client, org) == total
                assert summary_words(client, org) == total
                time.sleep(0.03 * (n % 4))  # some reads come after the replica caught up
                assert unbilled(client, org) == total
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def replay_flapper() -> None:
        while not stop.is_set():
            pair.pause_replay()
            stop.wait(0.15)
            pair.resume_replay()
            stop.wait(0.15)

    threads = [threading.Thread(target=writer, args=(f"rw{i}",)) for i in range(4)]
    flapper = threading.Thread(target=replay_flapper)
    try:
        flapper.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
    finally:
        stop.set()
        flapper.join(timeout=10)
        pair.resume_replay()
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[0]
    for db in ("replica", "primary"):
        served[db] = int(
            sum(
                reads(p, db, r)
                for p in ("dashboard", "usage_summary")
                for r in ("caught_up", "behind")
            )
            - before[db]
        )
    assert served["replica"] > 0 and served["primary"] > 0, served
