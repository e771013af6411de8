"""What a read replica buys: a primary and a streaming standby on local ports, a populated
ledger, then

1. the primary's CPU time spent serving the operator's analytics and the organizations'
   dashboards, without a replica (the baseline) and with DATABASE_REPLICA_URL set;
2. the replica's lag while usage events are ingested through the API as fast as it goes, and
   where the dashboards read meanwhile (the replica, or the primary when it is behind).

CPU is read from /proc for the primary's postmaster and its backends (run as root, beside the
servers). Target for 1: the primary's CPU with a replica <= 0.2x the baseline.

    .venv/bin/python bench/replica.py [--events 300000] [--orgs 200] [--requests 40]
        [--burst-s 15] [--rounds 1] [--skip-reads] [--ports 25434,25435]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REDIS_URL, report
from tests.helpers import TEST_JWT_SECRET, bearer
from tests.integration.replica_support import StreamingPair

TO = datetime(2026, 11, 1, tzinfo=UTC)
ANALYTICS = [
    "/api/v1/admin/analytics/usage?from=2026-08-01T00:00:00Z&to=2026-11-01T00:00:00Z",
    "/api/v1/admin/analytics/revenue?from=2025-11-01T00:00:00Z&to=2026-11-01T00:00:00Z",
]


def populate(dsn: str, orgs: int, events: int) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY organizations (id, created_at) FROM STDIN") as copy:
            for n in range(orgs):
                copy.write_row((f"org_{n:05d}", TO - timedelta(days=400)))
        with cur.copy(
            "COPY subscription_history (org_id, stripe_subscription_id, at, status, tier, "
            "monthly_amount_minor, currency) FROM STDIN"
        ) as copy:
            for n in range(orgs):
                copy.write_row(
                    (
                        f"org_{n:05d}",
                        f"sub_{n}",
                        TO - timedelta(days=300 - n % 200),
                        "active",
                        "pro",
                        9900,
                        "usd",
                    )
                )
        with cur.copy(
            "COPY usage_events (entry_id, org_id, metric, quantity, occurred_at, received_at, "
            "source) FROM STDIN"
        ) as copy:
            for n in range(events):
                when = TO - timedelta(minutes=(n * 7) % (90 * 24 * 60))
                metric = "queries" if n % 3 else "stt_words"
                copy.write_row(
                    (
                        f"e{n}",
                        f"org_{n % orgs:05d}",
                        metric,
                        1 + n % 50,
                        when,
                        when,
                        "consumed" if metric == "queries" else "recorded",
                    )
                )
        conn.commit()
        cur.execute("ANALYZE")


def primary_cpu_s(pair: StreamingPair) -> float:
    """CPU seconds of the primary's postmaster, its reaped children and its live backends."""
    pid = int((pair.root / "primary" / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent = int(fields[1])
        if int(entry.name) == pid:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif parent == pid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def app_for(pair: StreamingPair, tmp: Path, replica: bool) -> Any:
    from entrypoints.api.app import create_app
    from entrypoints.config import Settings

    settings = Settings(
        _env_file=None,
        app_env="test",
        database_url=pair.url("primary"),
        database_replica_url=pair.url("standby") if replica else None,
        redis_url=REDIS_URL,
        jwt_secret_key=TEST_JWT_SECRET,
        instance_path=tmp / uuid.uuid4().hex,
        rate_limit_enabled=False,
        redis_timeout_ms=5000,
    )
    return create_app(settings)


def read_load(app: Any, orgs: int, requests: int) -> None:
    client = app.test_client()
    admin = bearer("ops", "platform_admin")
    for n in range(requests):
        response = client.get(ANALYTICS[n % len(ANALYTICS)], headers=admin)
        assert response.status_code == 200, response.get_json()
        for k in range(5):
            org = f"org_{(n * 5 + k) % orgs:05d}"
            for path in ("/api/v1/billing/dashboard", "/api/v1/usage/summary?group_by=day"):
                response = client.get(path, headers=bearer(org, "member"))
                assert response.status_code == 200, response.get_json()


def primary_cost(pair: StreamingPair, tmp: Path, replica: bool, orgs: int, requests: int) -> float:
    app = app_for(pair, tmp, replica)
    read_load(app, orgs, 2)  # organizations known, pools warm
    before = primary_cpu_s(pair)
    started = time.perf_counter()
    read_load(app, orgs, requests)
    spent = primary_cpu_s(pair) - before
    print(f"  replica={replica}: {time.perf_counter() - started:.1f} s, primary CPU {spent:.2f} s")
    app.extensions["billing"].engine.dispose()
    return spent


def ingest_burst(pair: StreamingPair, tmp: Path, seconds: float, orgs: int, replica: bool) -> float:
    """Events/s ingested; the standby streams either way, the app reads it only if `replica`."""
    from entrypoints.metrics import REGISTRY

    app = app_for(pair, tmp, replica=replica)
    stop = threading.Event()
    accepted = [0]
    lags_ms: list[float] = []
    lag_bytes: list[int] = []

    def writer(worker: int) -> None:
        client, n = app.test_client(), 0
        while not stop.is_set():
            events = [
                {"metric": "stt_words", "quantity": 3, "idempotency_key": f"{tag}{worker}-{n}-{i}"}
                for i in range(500)
            ]
            org = f"org_{(worker * 7 + n) % orgs:05d}"
            r = client.post(
                "/api/v1/usage/events", json={"events": events}, headers=bearer(org, "service")
            )
            assert r.status_code == 200, r.get_json()
            accepted[0] += 500
            n += 1

    def reader() -> None:
        client, n = app.test_client(), 0
        while not stop.is_set():
            org = f"org_{n % orgs:05d}"
            r = client.get("/api/v1/billing/dashboard", headers=bearer(org, "member"))
            assert r.status_code == 200
            n += 1

    def prober() -> None:
        """Lag in time: how long until the standby replays the primary's position of now."""
        position = "SELECT pg_wal_lsn_diff({}, '0/0')::bigint"
        with (
            psycopg.connect(pair.url("primary").replace("+psycopg", ""), autocommit=True) as p,
            psycopg.connect(pair.url("standby").replace("+psycopg", ""), autocommit=True) as s,
        ):

            def ask(conn: Any, function: str) -> int:
                row = conn.execute(position.format(function)).fetchone()
                return int(row[0])

            while not stop.is_set():
                target, asked = ask(p, "pg_current_wal_lsn()"), time.perf_counter()
                while ask(s, "pg_last_wal_replay_lsn()") < target:
                    time.sleep(0.001)
                lags_ms.append((time.perf_counter() - asked) * 1000)
                behind = ask(p, "pg_current_wal_lsn()") - ask(s, "pg_last_wal_replay_lsn()")
                lag_bytes.append(max(0, behind))
                stop.wait(0.02)

    def served() -> dict[str, float]:
        return {
            db: sum(
                REGISTRY.get_sample_value(
                    "billing_database_reads_total",
                    {"purpose": "dashboard", "database": db, "reason": reason},
                )
                or 0.0
                for reason in ("caught_up", "behind", "unreachable", "failed")
            )
            for db in ("replica", "primary")
        }

    tag = uuid.uuid4().hex[:6]
    before = served()
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    threads += [threading.Thread(target=reader), threading.Thread(target=prober)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.perf_counter() - started
    after = served()
    replica_reads = after["replica"] - before["replica"]
    primary_reads = after["primary"] - before["primary"]
    ordered = sorted(lags_ms)
    print(
        f"  burst (replica={replica}): {accepted[0] / elapsed:.0f} events/s through the API "
        f"for {elapsed:.1f} s; "
        f"replay lag p50 {statistics.median(ordered):.1f} ms, "
        f"p99 {ordered[int(0.99 * (len(ordered) - 1))]:.1f} ms, max {ordered[-1]:.1f} ms "
        f"({len(ordered)} probes); bytes behind max {max(lag_bytes)}; dashboards read "
        f"{replica_reads:.0f} times on the replica, {primary_reads:.0f} on the primary"
    )
    if replica:
        p99 = ordered[int(0.99 * (len(ordered) - 1))]
        report("replica lag under an ingest burst (ms, p99)", p99, 1000.0, "<= 1.0x", "ms")
    app.extensions["billing"].engine.dispose()
    return accepted[0] / elapsed


def mark_cost_ms(pair: StreamingPair, tmp: Path, calls: int = 500) -> float:
    """What marking one committing request costs: the primary's position, then Redis."""
    app = app_for(pair, tmp, replica=True)
    reads = app.extensions["billing"].reads
    with reads.primary.connect() as conn:
        started = time.perf_counter()
        for n in range(calls):
            reads.remember(f"org_{n % 200:05d}", reads.position(conn))
        spent = (time.perf_counter() - started) / calls * 1000
    app.extensions["billing"].engine.dispose()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--burst-s", type=float, default=15.0)
    parser.add_argument("--ports", default="25434,25435")
    parser.add_argument(
        "--rounds", type=int, default=1, help="ingest bursts without/with, alternated"
    )
    parser.add_argument("--skip-reads", action="store_true", help="only the ingest bursts")
    args = parser.parse_args()
    primary_port, standby_port = (int(p) for p in args.ports.split(","))
    pair = StreamingPair(primary_port, standby_port)
    tmp = pair.root / "instances"
    try:
        pair.start()
        from entrypoints import migrate

        migrate.upgrade(pair.url("primary"))
        dsn = f"postgresql://postgres@127.0.0.1:{primary_port}/billing"
        started = time.perf_counter()
        populate(dsn, args.orgs, args.events)
        pair.wait_caught_up(timeout_s=300)
        print(
            f"populated {args.events} events, {args.orgs} organizations in "
            f"{time.perf_counter() - started:.1f} s (replicated)"
        )
        if not args.skip_reads:
            print(f"{args.requests} x (1 analytics report + 5 dashboards + 5 usage summaries):")
            baseline = primary_cost(pair, tmp, False, args.orgs, args.requests)
            ours = primary_cost(pair, tmp, True, args.orgs, args.requests)
            report(
                "primary CPU s for analytics and dashboards, with a replica",
                ours,
                baseline,
                "<= 0.2x",
                "s",
            )
        mark = mark_cost_ms(pair, tmp)
        print(f"  a write mark: {mark:.3f} ms per committing request")
        without, with_replica = [], []
        for _ in range(args.rounds):
            without.append(ingest_burst(pair, tmp, args.burst_s, args.orgs, replica=False))
            with_replica.append(ingest_burst(pair, tmp, args.burst_s, args.orgs, replica=True))
        request_ms = 2 * 500 * 1000 / statistics.median(without)  # 2 writers, 500 per request
        report(
            "a write mark, ms, against one 500-event ingest request",
            mark,
            request_ms,
            "<= 0.02x",
            "ms",
        )
        report(
            "ingest events/s through the API, replica reads on (median of rounds)",
            statistics.median(with_replica),
            statistics.median(without),
            ">= 0.85x",
            "events/s",
        )
    finally:
        pair.stop()


if __name__ == "__main__":
    main()
