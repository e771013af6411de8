"""Webhook intake throughput: distinct signed ~3 KB Stripe events replayed by wrk against
gunicorn (2 workers), and in the same run, on the same server settings, the floor: a bare Flask
endpoint doing what durability needs and nothing else (verify the signature with stripe-python,
one autocommit INSERT ... ON CONFLICT DO NOTHING RETURNING with psycopg into a table of the
inbox's shape and key, one RQ enqueue of the same job when the event is new). Prints accepted
events/s, p50/p99 and the ratios (targets: >= 0.7x the floor's throughput, p99 <= 2x), and the
rows for `make bench`. Needs wrk (apt-get install wrk), Postgres and Redis (the test defaults;
BENCH_REDIS_URL and BENCH_DATABASE_URL choose others).

    .venv/bin/python bench/webhook_intake.py [--rounds 4] [--seconds 3] [--connections 16]
        [--threads 4]

Both servers run side by side; wrk drives one at a time, in alternating rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wrk
from bench.common import REDIS_URL, fresh_database, gunicorn, report

PATH = "/api/v1/billing/webhook"
FLOOR_TABLE = "floor_webhook_events"
FLOOR_QUEUE = "floor-webhooks"
FLOOR_INSERT = (
    f"INSERT INTO {FLOOR_TABLE} (id, type, payload, status, received_at) "
    "VALUES (%s, %s, %s::jsonb, 'pending', now()) ON CONFLICT (id) DO NOTHING RETURNING id"
)


def events(count: int, size: int = 3072) -> list[tuple[bytes, dict[str, str]]]:
    """Distinct customer.updated events shaped like Stripe's, padded in metadata to ~3 KB."""
    from tests.helpers import signed
    from tests.stripe_fake import FakeStripe, fixture

    stripe = FakeStripe()
    out = []
    for n in range(count):
        customer = fixture("customer", id=f"cus_bench{n:07d}", metadata={"org_id": f"org_{n}"})
        body = stripe.event("customer.updated", customer)
        customer["metadata"]["note"] = "x" * max(0, size - len(body) - 12)
        body = stripe.event("customer.updated", customer)
        out.append((body, signed(body)))
    return out


def floor_app() -> Any:
    """The floor (gunicorn "bench.webhook_intake:floor_app()"): verify, store once, enqueue."""
    import psycopg
    import stripe
    from flask import Flask, jsonify, request
    from rq import Queue, Retry
    from sqlalchemy import make_url

    from entrypoints.worker import JOB_PATHS

    secret = os.environ["STRIPE_WEBHOOK_SECRET"]
    dsn = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql")
    conninfo = dsn.render_as_string(hide_password=False)
    local = threading.local()  # one autocommit connection per gunicorn thread
    queue = Queue(FLOOR_QUEUE, connection=redis.Redis.from_url(os.environ["REDIS_URL"]))
    job = JOB_PATHS["process_webhook_event"]
    app = Flask("floor")

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="alive")

    @app.post(PATH)
    def webhook() -> Any:
        payload = request.get_data()
        try:
            stripe.WebhookSignature.verify_header(
                payload, request.headers.get("Stripe-Signature"), secret, 300
            )
        except stripe.SignatureVerificationError:
            return jsonify(code="webhook_signature_invalid"), 400
        event = json.loads(payload)
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(conninfo, autocommit=True)
        text = payload.decode()
        new = conn.execute(FLOOR_INSERT, (event["id"], event["type"], text)).fetchone()
        if new is not None:
            with queue.connection.pipeline() as pipe:
                queue.enqueue(
                    job,
                    event["id"],
                    job_id=f"webhook-{event['id']}",
                    retry=Retry(max=3, interval=[10, 60, 300]),
                    pipeline=pipe,
                )
                pipe.execute()
        return jsonify(received=True, event_id=event["id"], duplicate=new is None)

    return app


def _floor_table(url: str) -> None:
    """The floor's own table: the inbox's columns, key and indexes."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {FLOOR_TABLE} (LIKE webhook_events INCLUDING ALL)"))
    engine.dispose()


def _stored(url: str, table: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    engine.dispose()
    return count


def _overall(name: str, rounds: list[wrk.WrkResult]) -> wrk.WrkResult:
    """The rounds as one: every request over the whole time; the median round's p50 and p99
    (a load spike from another process on the machine moves one round, not the figure)."""
    return wrk.WrkResult(
        name,
        sum(r.requests for r in rounds),
        sum(r.non_2xx for r in rounds),
        sum(r.seconds for r in rounds),
        statistics.median(r.p50_ms for r in rounds),
        statistics.median(r.p99_ms for r in rounds),
    )


def main() -> None:
    from tests.helpers import WEBHOOK_SECRET

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=3, help="per round and server")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--events", type=int, default=30_000, help="distinct events prepared")
    args = parser.parse_args()
    requests = events(args.events)
    size = sum(len(b) for b, _ in requests) / len(requests)
    data = wrk.write_requests(requests)
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        with fresh_database() as url:
            _floor_table(url)
            env = {
                "APP_ENV": "test",
                "DATABASE_URL": url,
                "REDIS_URL": REDIS_URL,
                "JWT_SECRET_KEY": "bench-secret-" + "x" * 40,
                "LOG_LEVEL": "WARNING",
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            }
            servers = {
                "floor": ("bench.webhook_intake:floor_app()", 32101),
                "intake": ("wsgi:app", 32100),
            }
            rounds: dict[str, list[wrk.WrkResult]] = {"floor": [], "intake": []}
            with ExitStack() as stack:
                for app, port in servers.values():
                    stack.enter_context(gunicorn(app, port, env, threads=args.threads))
                # Rounds in the order floor, intake, intake, floor, ...: a shared machine's
                # load weighs on both alike. Each round sends events of its own share.
                for n in range(args.rounds):
                    for name in ("floor", "intake") if n % 2 == 0 else ("intake", "floor"):
                        rounds[name].append(
                            wrk.run(
                                f"{name} round {n + 1}",
                                f"http://127.0.0.1:{servers[name][1]}",
                                data,
                                PATH,
                                seconds=args.seconds,
                                connections=args.connections,
                                start=n * (args.events // args.rounds),
                            )
                        )
            stored = _stored(url, "webhook_events"), _stored(url, FLOOR_TABLE)
            queues = redis.Redis.from_url(REDIS_URL)
            queued = (
                queues.llen("rq:queue:billing-webhooks"),
                queues.llen(f"rq:queue:{FLOOR_QUEUE}"),
            )
    finally:
        data.unlink()
        redis.Redis.from_url(REDIS_URL).flushdb()
    floor, intake = (
        _overall("floor (verify, insert, enqueue)", rounds["floor"]),
        _overall("webhook intake", rounds["intake"]),
    )
    ratio, p99_ratio = intake.accepted_per_s / floor.accepted_per_s, intake.p99_ms / floor.p99_ms
    print(
        f"signed events of {size:.0f} bytes; wrk {args.connections} connections; gunicorn 2 "
        f"workers x {args.threads} threads for both servers; {args.rounds} rounds of "
        f"{args.seconds} s each"
    )
    for result in (r for pair in zip(rounds["floor"], rounds["intake"], strict=True) for r in pair):
        print(result.line())
    print("overall (accepted/s over all rounds; p99: the median of the rounds' p99):")
    print(floor.line())
    print(intake.line())
    print(
        f"stored: intake {stored[0]} events ({queued[0]} jobs queued), floor {stored[1]} "
        f"({queued[1]} jobs queued); "
        f"a round sending more than {args.events // args.rounds} requests repeats events "
        "(duplicates, answered 200)"
    )
    print(
        f"throughput ratio {ratio:.2f}x (target >= 0.7x); p99 ratio {p99_ratio:.2f}x (target <= 2x)"
    )
    report("webhook intake accepted/s", intake.accepted_per_s, floor.accepted_per_s, ">= 0.7x")
    report("webhook intake p99", intake.p99_ms, floor.p99_ms, "<= 2x", unit="ms")


if __name__ == "__main__":
    main()
