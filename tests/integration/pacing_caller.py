"""One process of the shared-schedule tests: from `start_at` (epoch seconds), `calls` Stripe
calls through the gateway bootstrap builds, paced by the schedule in Redis.

    python -m tests.integration.pacing_caller REDIS_URL QUEUE_PREFIX RATE API_BASE CALLS START_AT
"""

from __future__ import annotations

import os
import sys
import time

import redis

from adapters.stripe_gateway import StripeGateway, make_stripe_client
from entrypoints.bootstrap import stripe_pacing
from entrypoints.config import Settings


def main(redis_url: str, prefix: str, rate: float, api_base: str, calls: int, at: float) -> None:
    settings = Settings(
        _env_file=None,
        app_env="test",
        redis_url=redis_url,
        rq_queue=prefix,
        stripe_secret_key="sk_test_pacing",
        stripe_rate_limit=rate,
        stripe_rate_limit_max_wait_s=60,
    )
    pacing = stripe_pacing(settings, redis.Redis.from_url(redis_url))
    gateway = StripeGateway(make_stripe_client("sk_test_pacing", api_base=api_base, pacing=pacing))
    time.sleep(max(0.0, at - time.time()))
    for n in range(calls):
        gateway.create_customer(f"org_{n}", None, None, idempotency_key=f"{os.getpid()}:{n}")
    print("done", calls, flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], float(args[2]), args[3], int(args[4]), float(args[5]))
