"""Webhook processing at Stripe's pace: 5,000 signed events for 500 subscriptions (10 each,
shuffled) stored through the intake, then applied by the Procfile's worker process while a
Stripe stand-in answers each refetch after 50 ms. In the same run, the floor: the same handlers
applied in one loop in one process against a stand-in answering at once.

Prints the drain time, events/s and refetches made, the floor and the ratio (targets: drain
within 2x the floor; refetches <= 2 per subscription). Needs Postgres and Redis (the test
defaults) and redis-server (one of its own is started).

    .venv/bin/python bench/webhook_processing.py [--events-per-sub 10] [--subs 500]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

import redis
from rq.suspension import resume, suspend
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_database, report
from domain.services.stripe_events import handle_stripe_event
from domain.services.webhook_intake import receive_stripe_event
from entrypoints.bootstrap import bootstrap
from entrypoints.config import load_settings
from tests.helpers import TEST_JWT_SECRET, WEBHOOK_SECRET, stripe_signature
from tests.integration.procfile import Processes, RedisServer, StripeStandIn, wait_for
from tests.integration.webhook_support import make_stripe

STATUSES = ["active", "trialing", "past_due", "canceled", "unpaid"]
STAND_IN_PORT, REDIS_PORT = 17481, 17381


def build_events(subs: int, per_sub: int, seed: int = 12) -> tuple[object, list[bytes]]:
    rng = random.Random(seed)
    stripe = make_stripe()
    prices = [stripe.price_ids["starter"], stripe.price_ids["pro"], stripe.price_ids["enterprise"]]
    events = []
    for n in range(subs):
        created = stripe.put_subscription(f"cus_b{n}", prices[0], "incomplete", org_id=f"org_b{n}")
        events.append(stripe.event("customer.subscription.created", created))
        for _ in range(per_sub - 1):
            events.append(
                stripe.event(
                    "customer.subscription.updated", {**created, "status": rng.choice(STATUSES)}
                )
            )
        stripe.put_subscription(
            f"cus_b{n}",
            rng.choice(prices),
            rng.choice(STATUSES),
            org_id=f"org_b{n}",
            sub_id=created["id"],
        )
    rng.shuffle(events)
    return stripe, events


def settings_for(url: str, stripe: object, redis_url: str = "", **extra: str) -> dict[str, str]:
    prices = stripe.price_ids  # type: ignore[attr-defined]
    return {
        "APP_ENV": "test",
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_STARTER_PRICE_ID": prices["starter"],
        "STRIPE_PRO_PRICE_ID": prices["pro"],
        "STRIPE_ENTERPRISE_PRICE_ID": prices["enterprise"],
        "LOG_LEVEL": "ERROR",
        **extra,
    }


def intake(container: object, events: list[bytes]) -> None:
    c = container
    for body in events:
        receive_stripe_event(
            c.uow,
            c.jobs,
            c.clock,
            body,
            stripe_signature(body),  # type: ignore[attr-defined]
            [WEBHOOK_SECRET],
        )


def pending(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM webhook_events WHERE status = 'pending'")
        ).scalar_one()
    engine.dispose()
    return int(count)


def floor_run(stripe: object, events: list[bytes]) -> float:
    with fresh_database() as url:
        env = settings_for(url, stripe)
        settings = load_settings(**{k.lower(): v for k, v in env.items() if v})
        container = bootstrap(settings, gateway=stripe, jobs=_NoJobs())
        intake(container, events)
        ids = [json.loads(body)["id"] for body in events]
        started = time.perf_counter()
        for event_id in ids:
            handle_stripe_event(container.payments, event_id)
        seconds = time.perf_counter() - started
        assert pending(url) == 0
        container.engine.dispose()  # type: ignore[union-attr]
    return seconds


class _NoJobs:
    def enqueue(self, job: str, *args: str, job_id: str | None = None) -> None:
        pass


def worker_run(stripe: object, events: list[bytes], threads: int, logs: Path) -> tuple[float, int]:
    server = RedisServer(REDIS_PORT)  # a Redis of its own: nothing shared is touched
    server.start()
    client = redis.Redis.from_url(server.url)
    stand_in = StripeStandIn(stripe, STAND_IN_PORT, delay_s=0.05)
    stand_in.start()
    try:
        with fresh_database() as url:
            env = settings_for(
                url,
                stripe,
                server.url,
                STRIPE_SECRET_KEY="sk_test_standin",
                STRIPE_API_BASE=stand_in.url,
                STRIPE_MAX_NETWORK_RETRIES="0",
                WEBHOOK_CONCURRENCY=str(threads),
            )
            container = bootstrap(load_settings(**{k.lower(): v for k, v in env.items()}))
            suspend(client)  # the workers start, then wait for the whole backlog
            processes = Processes(env, logs)
            try:
                processes.start("worker")
                intake(container, events)
                time.sleep(3)  # the worker is up and suspended
                resume(client)
                started = time.perf_counter()
                wait_for(lambda: pending(url) == 0, 600, "the backlog drained", every=0.05)
                seconds = time.perf_counter() - started
            finally:
                processes.stop()
                container.engine.dispose()  # type: ignore[union-attr]
    finally:
        stand_in.stop()
        client.close()
        server.cleanup()
    return seconds, sum(stand_in.refetches.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subs", type=int, default=500)
    parser.add_argument("--events-per-sub", type=int, default=10)
    parser.add_argument("--threads", type=int, default=8, help="WEBHOOK_CONCURRENCY")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # one billing-change line per event in the floor loop
    stripe, events = build_events(args.subs, args.events_per_sub)
    floor = floor_run(stripe, events)
    logs = Path("/tmp") / "bench-webhook-processing"
    logs.mkdir(exist_ok=True)
    drain, refetches = worker_run(stripe, events, args.threads, logs)
    count = len(events)
    print(
        f"{count} events for {args.subs} subscriptions; the Procfile's worker with "
        f"{args.threads} webhook threads; Stripe stand-in answering after 50 ms"
    )
    print(
        f"drain {drain:.1f} s ({count / drain:.0f} events/s), {refetches} refetches "
        f"({refetches / args.subs:.2f} per subscription; target <= 2)"
    )
    print(
        f"floor (one loop, one process, instant Stripe) {floor:.1f} s "
        f"({count / floor:.0f} events/s); drain / floor {drain / floor:.2f}x (target <= 2x)"
    )
    print(
        json.dumps(
            {
                "events": count,
                "drain_s": round(drain, 2),
                "floor_s": round(floor, 2),
                "ratio": round(drain / floor, 3),
                "refetches": refetches,
                "per_subscription": round(refetches / args.subs, 2),
            }
        )
    )
    report("webhook processing: drain by the worker vs one-loop floor", drain, floor, "<= 2x", "s")
    # ours / baseline is the number of refetches per subscription.
    report("webhook processing: refetches per subscription", refetches, args.subs, "<= 2x")


if __name__ == "__main__":
    main()
