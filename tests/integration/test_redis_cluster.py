"""The service with its quota counters on a three-master Redis Cluster: two web processes
(gunicorn, as the Procfile runs it) on QUOTA_REDIS_URL = the cluster, a worker flushing the
ledger through RQ on REDIS_URL (a single Redis), a fresh Postgres database. Exactly the limit is
granted under concurrency; a master's keys lost are rebuilt from the ledger; a slot moved while
consumptions flow loses and double-counts nothing (granted = ledger = counter)."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from redis.crc import key_slot
from rq import Queue
from rq.job import Job
from sqlalchemy import Engine, create_engine, text

from adapters.redis_quota import RedisQuotaCounter
from entrypoints import migrate
from entrypoints.config import Settings
from tests.helpers import TEST_JWT_SECRET, bearer
from tests.integration.conftest import REDIS_URL, create_database, drop_database
from tests.integration.procfile import Processes, wait_for
from tests.integration.redis_cluster import LocalCluster

WEB_PORTS = (31080, 31081)
LIMIT = 300


@dataclass
class Stack:
    cluster: LocalCluster
    engine: Engine
    rq: redis.Redis
    processes: Processes
    settings: Settings

    def ledger(self, org: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT coalesce(sum(quantity), 0) FROM usage_events WHERE org_id = :o"),
                    {"o": org},
                ).scalar_one()
            )

    def counter(self, org: str) -> int:
        client = self.cluster.client()
        try:
            return int(client.hget(f"quota:{{{org}}}:c:queries", "used") or -1)
        finally:
            client.close()

    def flush(self) -> None:
        """The worker's periodic job, asked for now; waits for it and for an empty backlog."""
        queue = Queue(self.settings.queue_names["urgent"], connection=self.rq)
        job = queue.enqueue("entrypoints.worker.jobs.flush_quota_ledger")
        wait_for(
            lambda: Job.fetch(job.id, connection=self.rq).get_status() == "finished",
            30,
            "the worker's ledger flush",
        )
        client = self.cluster.client()
        try:
            assert RedisQuotaCounter(client).ledger_backlog()[0] == 0
        finally:
            client.close()


@pytest.fixture(scope="module")
def stack(redis_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("cluster-stack")
    catalog = tmp / "catalog.json"
    catalog.write_text(
        json.dumps(
            {
                "default_tier": "free",
                "plans": [{"tier": "free", "price": "0.00", "queries": LIMIT, "documents": 5}],
            }
        )
    )
    database_url = create_database("billing_cluster")
    engine = create_engine(database_url)
    rq = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    processes = Processes(
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "QUOTA_REDIS_URL": redis_cluster.url,
            "JWT_SECRET_KEY": TEST_JWT_SECRET,
            "BILLING_CATALOG_FILE": str(catalog),
            "REDIS_TIMEOUT_MS": "5000",  # a loaded 2-core machine: about atomicity, not speed
            "RATE_LIMIT_ENABLED": "false",
            "LEDGER_FLUSH_INTERVAL_S": "3600",  # flushed when the test asks
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": "1",
        },
        tmp,
    )
    try:
        migrate.upgrade(database_url)
        rq.flushdb()
        redis_cluster.flush_all()
        for n, port in enumerate(WEB_PORTS):
            processes.start("web", {"PORT": str(port)}, label=f"web-{n}")
        processes.start("worker")
        for port in WEB_PORTS:
            wait_for(lambda p=port: call(p, "GET", "/healthz")[0] == 200, 60, f"web on {port}")
        settings = Settings(_env_file=None, redis_url=REDIS_URL)
        yield Stack(redis_cluster, engine, rq, processes, settings)
    finally:
        processes.stop()
        engine.dispose()
        rq.flushdb()
        rq.close()
        drop_database(database_url)


def call(port: int, method: str, path: str, body: Any = None, org: str = "x") -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json", **bearer(org, "service")}
        conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    except OSError:
        return 0, None
    finally:
        conn.close()


def consume(org: str, key: str, n: int, amount: int = 1) -> tuple[int, Any]:
    """One consumption, sent again with its key while the answer is retryable (503, or no
    answer): counted once whatever happens, as the Python client does it."""
    for attempt in range(40):
        port = WEB_PORTS[(n + attempt) % len(WEB_PORTS)]
        body = {"metric": "queries", "amount": amount, "idempotency_key": key}
        status, answer = call(port, "POST", "/api/v1/quota/consume", body, org)
        if status not in (0, 503):
            return status, answer
        time.sleep(0.05)
    raise AssertionError(f"{key} was never answered")


def hammer(org: str, requests: int, threads: int = 12) -> list[tuple[int, Any]]:
    keys = [f"{org}-{uuid.uuid4().hex}" for _ in range(requests)]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda n: consume(org, keys[n], n), range(requests)))


@pytest.mark.timeout(120)
def test_two_web_processes_grant_exactly_the_limit(stack: Stack) -> None:
    answers = hammer("org_cl_race", LIMIT + 150)
    granted = [a["used"] for status, a in answers if status == 200]
    refused = [a for status, a in answers if status == 429]
    assert len(granted) == LIMIT and len(refused) == 150
    assert sorted(granted) == list(range(1, LIMIT + 1))  # each grant saw its own count
    assert {a["code"] for a in refused} == {"quota_exceeded"}
    stack.flush()
    assert stack.ledger("org_cl_race") == LIMIT == stack.counter("org_cl_race")


@pytest.mark.timeout(120)
def test_a_master_that_lost_its_keys_is_rebuilt_from_the_ledger(stack: Stack) -> None:
    org = "org_cl_lost"
    assert consume(org, "first", 0, amount=120)[0] == 200
    stack.flush()
    owner = stack.cluster.owner(f"quota:{{{org}}}:c:queries")
    stack.cluster.node(owner).flushall()  # that master restarted empty; the others kept theirs
    assert stack.counter(org) == -1
    status, answer = consume(org, "second", 1, amount=181)
    assert (status, answer["used"], answer["code"]) == (429, 120, "quota_exceeded")
    status, answer = consume(org, "third", 0, amount=180)
    assert (status, answer["used"]) == (200, 300)
    assert consume(org, "fourth", 1)[0] == 429
    stack.flush()
    assert stack.ledger(org) == LIMIT == stack.counter(org)


@pytest.mark.timeout(120)
def test_a_slot_moved_mid_traffic_loses_and_doubles_nothing(stack: Stack) -> None:
    org = "org_cl_move"
    slot = key_slot(org.encode())
    source = stack.cluster.owner(f"quota:{{{org}}}:c:queries")
    target = next(p for p in stack.cluster.ports if p != source)
    assert consume(org, "warm-up", 0)[0] == 200  # the window and counter exist before the move
    moved: list[int] = []

    def reshard() -> None:
        time.sleep(0.5)
        moved.append(stack.cluster.move_slot(slot, source, target, pause_s=0.3))

    mover = threading.Thread(target=reshard)
    mover.start()
    try:
        answers = hammer(org, 240, threads=8)
    finally:
        mover.join(timeout=30)
    assert moved and moved[0] >= 4  # window, counter, ledger stream, pending set (at least)
    assert stack.cluster.owner(f"quota:{{{org}}}:c:queries") == target
    assert [status for status, _ in answers] == [200] * 240
    assert sorted(a["used"] for _, a in answers) == list(range(2, 242))
    stack.flush()
    assert stack.ledger(org) == 241 == stack.counter(org)
    assert stack.processes.alive() == {"web-0": True, "web-1": True, "worker": True}


@pytest.mark.timeout(60)
def test_rate_limits_count_on_the_cluster(
    redis_cluster: LocalCluster, settings: Settings, clean_db: Engine, clean_redis: redis.Redis
) -> None:
    from entrypoints.api.app import create_app

    redis_cluster.flush_all()
    app = create_app(
        settings.model_copy(
            update={"quota_redis_url": redis_cluster.url, "rate_limit_per_org": "3/minute"}
        )
    )
    client = app.test_client()
    statuses = [
        client.get("/api/v1/billing/status", headers=bearer("org_cl_rate", "member"))
        for _ in range(4)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[-1].get_json()["code"] == "rate_limited"
    keys = [k for p in redis_cluster.ports for k in redis_cluster.node(p).scan_iter("LIMITS*")]
    assert any(b"org_cl_rate" in k for k in keys)  # counted on the cluster, not on REDIS_URL
    assert not any(b"org_cl_rate" in k for k in clean_redis.scan_iter("LIMITS*"))
    app.extensions["billing"].engine.dispose()


@pytest.mark.timeout(60)
def test_a_consume_in_a_half_moved_slot_answers_retryable_and_counts_once(
    redis_cluster: LocalCluster, clean_cluster: Any
) -> None:
    """The slot's keys split between two masters: the script cannot run (TRYAGAIN, retried by
    the client, then given up); the consume is refused as unavailable and counts nothing. Once
    the slot has moved, the same consume counts once."""
    from datetime import UTC, datetime

    from adapters.redis_client import connect_quota_redis
    from domain.errors import QuotaUnavailable
    from domain.model.plans import Metric
    from domain.model.quotas import QuotaWindow, calendar_month

    org = "org_cl_half"
    counter = RedisQuotaCounter(connect_quota_redis(redis_cluster.url, timeout_s=2))
    now = datetime.now(UTC)
    start, end = calendar_month(now)
    counter.set_window(QuotaWindow(org, "free", start, end, {m: 10 for m in Metric}), now)
    counter.seed(org, Metric.QUERIES, start, end, 0)
    assert counter.consume(org, Metric.QUERIES, 1, now, "k1").used == 1
    slot = key_slot(org.encode())
    source = redis_cluster.owner(f"quota:{{{org}}}:window")
    target = next(p for p in redis_cluster.ports if p != source)
    redis_cluster.begin_move(slot, source, target)
    try:
        redis_cluster.migrate(source, target, [f"quota:{{{org}}}:c:queries"])
        with pytest.raises(QuotaUnavailable):
            counter.consume(org, Metric.QUERIES, 1, now, "k2")
    finally:
        keys = redis_cluster.node(source).execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        if keys:
            redis_cluster.migrate(source, target, keys)
        redis_cluster.finish_move(slot, target)
    assert counter.consume(org, Metric.QUERIES, 1, now, "k2").used == 2
    assert counter.consume(org, Metric.QUERIES, 1, now, "k2").status.value == "duplicate"
    assert [e.idempotency_key for e in counter.pending_ledger(10)] == ["k1", "k2"]
    assert redis_cluster.owner(f"quota:{{{org}}}:window") == target
    counter.client.close()
