"""Webhook intake throughput: distinct signed ~3 KB Stripe events replayed by wrk against
gunicorn (2 workers), and in the same run a bare Flask endpoint on the same server settings.
Prints accepted events/s, p50/p99 and the ratios (targets: >= 0.4x the bare throughput, p99
<= 3x). Needs wrk (apt-get install wrk), Postgres and Redis (the test defaults).

    .venv/bin/python bench/webhook_intake.py [--seconds 8] [--connections 16] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wrk
from bench.common import REDIS_URL, fresh_database, gunicorn
from tests.helpers import WEBHOOK_SECRET, signed
from tests.stripe_fake import FakeStripe, fixture

PATH = "/api/v1/billing/webhook"


def events(count: int, size: int = 3072) -> list[tuple[bytes, dict[str, str]]]:
    """Distinct customer.updated events shaped like Stripe's, padded in metadata to ~3 KB."""
    stripe = FakeStripe()
    out = []
    for n in range(count):
        customer = fixture("customer", id=f"cus_bench{n:07d}", metadata={"org_id": f"org_{n}"})
        body = stripe.event("customer.updated", customer)
        customer["metadata"]["note"] = "x" * max(0, size - len(body) - 12)
        body = stripe.event("customer.updated", customer)
        out.append((body, signed(body)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
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
            env = {
                "APP_ENV": "test",
                "DATABASE_URL": url,
                "REDIS_URL": REDIS_URL,
                "JWT_SECRET_KEY": "bench-secret-" + "x" * 40,
                "LOG_LEVEL": "WARNING",
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            }
            with gunicorn("bench.bare_app:app", 18081, env, threads=args.threads):
                bare = wrk.run(
                    "bare Flask endpoint",
                    "http://127.0.0.1:18081",
                    data,
                    PATH,
                    seconds=args.seconds,
                    connections=args.connections,
                )
            with gunicorn("wsgi:app", 18080, env, threads=args.threads):
                intake = wrk.run(
                    "webhook intake",
                    "http://127.0.0.1:18080",
                    data,
                    PATH,
                    seconds=args.seconds,
                    connections=args.connections,
                )
    finally:
        data.unlink()
        redis.Redis.from_url(REDIS_URL).flushdb()
    if intake.requests > args.events:
        print(f"note: {intake.requests - args.events} requests repeated an event (duplicates)")
    ratio, p99_ratio = intake.accepted_per_s / bare.accepted_per_s, intake.p99_ms / bare.p99_ms
    print(
        f"signed events of {size:.0f} bytes; wrk {args.connections} connections; gunicorn 2 "
        f"workers x {args.threads} threads for both servers; {args.seconds} s each"
    )
    print(bare.line())
    print(intake.line())
    print(
        f"throughput ratio {ratio:.2f}x (target >= 0.4x); p99 ratio {p99_ratio:.2f}x (target <= 3x)"
    )
    print(
        json.dumps(
            {
                "bytes": round(size),
                "bare_per_s": round(bare.accepted_per_s),
                "intake_per_s": round(intake.accepted_per_s),
                "ratio": round(ratio, 3),
                "p99_ratio": round(p99_ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
