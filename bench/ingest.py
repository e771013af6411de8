"""Usage ingestion throughput: events/s through HTTP in 1,000-event batches (gunicorn, 2
workers), against raw Postgres in the same run: COPY into a staging table + INSERT ... ON
CONFLICT DO NOTHING, and one multi-row INSERT ... ON CONFLICT per batch (target: >= 0.5x the
COPY-staging rate). Both raw baselines are idempotent like the service: a row of
usage_event_keys per entry (the ledger is partitioned by month), then the entries it admits.
Needs Postgres and Redis (the test defaults).

With `--ledger-rows N` the ledger holds N rows before anything is measured (bench/ledger_fill.py:
twelve invoiced months and the current one); the rate at 1M and at 20M rows is meant to stay
within 15%.

    .venv/bin/python bench/ingest.py [--batches 40] [--concurrency 4] [--ledger-rows N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REDIS_URL, fresh_database, gunicorn, load, report
from bench.ledger_fill import fill, month_start
from tests.helpers import make_token

SECRET = "bench-secret-" + "x" * 40
COLUMNS = "org_id, metric, quantity, occurred_at, received_at, idempotency_key, conversation_id"


def batch(org: str, n: int, size: int = 1000) -> list[dict]:
    return [
        {
            "metric": "stt_words",
            "quantity": 1250,
            "idempotency_key": f"{org}-{n}-{i}",
            "conversation_id": f"c-{i % 50}",
        }
        for i in range(size)
    ]


def raw_rows(org: str, n: int) -> list[tuple]:
    now = datetime.now(UTC)
    return [
        (org, e["metric"], e["quantity"], now, now, e["idempotency_key"], e["conversation_id"])
        for e in batch(org, n)
    ]


def copy_staging(dsn: str, batches: int) -> float:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO organizations (id, created_at) VALUES ('org_copy', now()) "
            "ON CONFLICT DO NOTHING"
        )
        conn.commit()
        started = time.perf_counter()
        for n in range(batches):
            with conn.transaction():
                conn.execute(
                    "CREATE TEMP TABLE staging (LIKE usage_events INCLUDING DEFAULTS) "
                    "ON COMMIT DROP"
                )
                with conn.cursor().copy(f"COPY staging ({COLUMNS}) FROM STDIN") as copy:
                    for row in raw_rows("org_copy", n):
                        copy.write_row(row)
                # Idempotent, like the service: a key row first (the ledger is partitioned
                # by month, so its keys live in usage_event_keys), then the entries it admits.
                conn.execute(
                    "WITH new_keys AS (INSERT INTO usage_event_keys (event_id, org_id, metric, "
                    "idempotency_key, entry_id, occurred_at) SELECT id, org_id, metric, "
                    "idempotency_key, entry_id, occurred_at FROM staging ON CONFLICT DO NOTHING "
                    f"RETURNING event_id) INSERT INTO usage_events (id, {COLUMNS}) SELECT id, "
                    f"{COLUMNS} FROM staging WHERE id IN (SELECT event_id FROM new_keys)"
                )
        return batches * 1000 / (time.perf_counter() - started)


def multi_row(dsn: str, batches: int) -> float:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO organizations (id, created_at) VALUES ('org_multi', now()) "
            "ON CONFLICT DO NOTHING"
        )
        conn.commit()
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * 1000)
        sql = (
            "WITH batch AS (SELECT nextval('usage_events_id_seq') AS id, * FROM (VALUES "
            f"{values}) AS v ({COLUMNS})), new_keys AS (INSERT INTO usage_event_keys "
            "(event_id, org_id, metric, idempotency_key, occurred_at) SELECT id, org_id, "
            "metric, idempotency_key, occurred_at::timestamptz FROM batch ON CONFLICT DO NOTHING "
            f"RETURNING event_id) INSERT INTO usage_events (id, {COLUMNS}) SELECT id, org_id, "
            "metric, quantity::bigint, occurred_at::timestamptz, received_at::timestamptz, "
            "idempotency_key, conversation_id FROM batch "
            "WHERE id IN (SELECT event_id FROM new_keys)"
        )
        started = time.perf_counter()
        for n in range(batches):
            with conn.transaction():
                conn.execute(sql, [v for row in raw_rows("org_multi", n) for v in row])
        return batches * 1000 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--ledger-rows", type=int, default=0, help="fill the ledger first")
    parser.add_argument("--port", type=int, default=18095)
    args = parser.parse_args()
    redis.Redis.from_url(REDIS_URL).flushdb()
    token = make_token("org_http", "service", secret=SECRET, expires_in=3600)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    requests = [
        (json.dumps({"events": batch("org_http", n)}).encode(), headers)
        for n in range(args.batches)
    ]
    warm = [(json.dumps({"events": batch("org_warm", n)}).encode(), headers) for n in range(4)]
    with fresh_database() as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        if args.ledger_rows:
            now = datetime.now(UTC)
            print(fill(dsn, args.ledger_rows, month_start(now), until=now).line(), flush=True)
        copy_rate = copy_staging(dsn, args.batches)
        multi_rate = multi_row(dsn, args.batches)
        env = {
            "APP_ENV": "test",
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "JWT_SECRET_KEY": SECRET,
            "LOG_LEVEL": "WARNING",
        }
        with gunicorn("wsgi:app", args.port, env, threads=4):
            load("warm-up", args.port, "/api/v1/usage/events", warm, 2)
            http = load(
                "HTTP ingestion", args.port, "/api/v1/usage/events", requests, args.concurrency
            )
    assert http.ok == len(requests), "some batches were refused"
    http_rate = http.ok * 1000 / http.seconds
    ledger = f", ledger of {args.ledger_rows:,} rows" if args.ledger_rows else ""
    print(f"{args.batches} batches of 1,000 events{ledger}")
    print(f"raw Postgres, COPY + staging INSERT ON CONFLICT: {copy_rate:>9.0f} events/s")
    print(f"raw Postgres, multi-row INSERT ON CONFLICT:      {multi_rate:>9.0f} events/s")
    print(
        f"HTTP /api/v1/usage/events ({args.concurrency} clients):        {http_rate:>9.0f} "
        f"events/s  (p50 {http.pct(50):.0f} ms, p99 {http.pct(99):.0f} ms per batch)"
    )
    print(
        f"ratio to COPY-staging {http_rate / copy_rate:.2f}x (target >= 0.5x); "
        f"to multi-row INSERT {http_rate / multi_rate:.2f}x"
    )
    print(
        json.dumps(
            {
                "copy_per_s": round(copy_rate),
                "multi_row_per_s": round(multi_rate),
                "http_per_s": round(http_rate),
                "ratio_copy": round(http_rate / copy_rate, 3),
                "ledger_rows": args.ledger_rows,
            }
        )
    )
    report(f"ingest: HTTP vs COPY-staging{ledger}", http_rate, copy_rate, ">= 0.5x", "events/s")


if __name__ == "__main__":
    main()
