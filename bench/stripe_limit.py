"""Invoicing at Stripe's rate limit: the monthly run's code in several processes sharing one
schedule of Stripe calls in Redis, against a stand-in that enforces the limit as Stripe does
(429 with Retry-After past `limit` calls in any second) and counts calls and 429s.

Each organization has a customer and usage to bill: four calls each (invoice, two items,
finalize). Figures: the ops/s reached over the ceiling (target >= 0.8x) and the share of calls
answered 429 (target < 0.01x).

    .venv/bin/python bench/invoicing.py --stripe-limit 100 [--orgs 10000] [--workers 4]
        [--threads 4] [--port 0]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REDIS_URL, fresh_database, report
from tests.stripe_limit_standin import StripeLimitStandIn

EVENTS_PER_ORG = 10  # what is measured is the pace of Stripe calls, not the aggregation
QUEUE_PREFIX = "bench-stripe-limit"


def worker(url: str, api_base: str, limit: float, first: int, last: int, threads: int) -> None:
    """Invoice organizations [first, last) through the real gateway, in `threads` threads (a
    worker waits on Postgres and Stripe most of the time); print the outcomes."""
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from bench.invoicing import CUTOFF
    from domain.services.monthly_invoicing import run_invoicing
    from entrypoints.bootstrap import bootstrap
    from entrypoints.config import Settings

    settings = Settings(
        _env_file=None,
        app_env="test",
        database_url=url,
        redis_url=REDIS_URL,
        rq_queue=QUEUE_PREFIX,
        jwt_secret_key="bench-" + "x" * 40,
        stripe_secret_key="sk_live_bench",
        stripe_api_base=api_base,
        stripe_rate_limit=limit,
        stripe_max_network_retries=0,  # the paced client alone retries, so 429s are counted
        db_pool_size=threads,
        log_level="WARNING",
    )
    container = bootstrap(settings)
    orgs = [f"org_{n:06d}" for n in range(first, last)]
    with ThreadPoolExecutor(threads) as pool:
        summaries = list(
            pool.map(
                lambda part: run_invoicing(container.invoicing, CUTOFF, part, False, "bench"),
                [orgs[n::threads] for n in range(threads)],
            )
        )
    counts: Counter[str] = sum((s.counts for s in summaries), Counter())
    failures = [f for s in summaries for f in s.failures.values()][:3]
    print(json.dumps({"summary": dict(counts), "failures": failures}))


def _clear_schedule() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(f"{QUEUE_PREFIX}:stripe-pace")
    for key in client.scan_iter(f"rq:*{QUEUE_PREFIX}*"):
        client.delete(key)


def calls_alone(limit: float, workers: int, port: int, calls: int) -> tuple[float, int, int]:
    """The same schedule with nothing else to do: `workers` processes making only Stripe calls
    (tests/integration/pacing_caller.py). What the limiter reaches on this machine right now,
    for comparison with the invoicing run. Returns ops/s, calls, 429s."""
    prefix = f"{QUEUE_PREFIX}-calls"
    redis.Redis.from_url(REDIS_URL).delete(f"{prefix}:stripe-pace")
    with StripeLimitStandIn(ceiling=limit, port=port) as standin:
        start_at = time.time() + 5
        command = [sys.executable, "-m", "tests.integration.pacing_caller", REDIS_URL, prefix]
        processes = [
            subprocess.Popen(
                [*command, str(limit), standin.url, str(calls // workers), str(start_at)],
                stdout=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": _pythonpath()},
                cwd=_root(),
            )
            for _ in range(workers)
        ]
        try:
            for p in processes:
                p.wait(timeout=600)
        finally:
            for p in processes:
                p.kill() if p.poll() is None else None
        made = sorted(c.at for c in standin.calls)
        refused = sum(1 for c in standin.calls if c.status == 429)
    return (len(made) - 1) / (made[-1] - made[0]), len(made), refused


def run(orgs: int, limit: float, workers: int, port: int, threads: int = 4) -> None:
    from bench.invoicing import populate

    with fresh_database() as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        populate(dsn, orgs, EVENTS_PER_ORG)
        _clear_schedule()
        with StripeLimitStandIn(ceiling=limit, port=port) as standin:
            started = time.monotonic()
            chunk = -(-orgs // workers)
            command = [sys.executable, __file__, url, standin.url, str(limit), str(threads)]
            processes = [
                subprocess.Popen(
                    [*command, str(first), str(min(orgs, first + chunk))],
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONPATH": _pythonpath()},
                )
                for first in range(0, orgs, chunk)
            ]
            try:
                outputs = [p.communicate(timeout=3600)[0] for p in processes]
            finally:
                for p in processes:
                    p.kill() if p.poll() is None else None
            seconds = time.monotonic() - started
            calls = list(standin.calls)
            busiest = standin.busiest_second()
        _clear_schedule()
    results: list[dict[str, Any]] = [json.loads(o.strip().splitlines()[-1]) for o in outputs]
    outcomes: dict[str, int] = {}
    for result in results:
        for name, count in result["summary"].items():
            outcomes[name] = outcomes.get(name, 0) + count
    refused = sum(1 for c in calls if c.status == 429)
    span = calls[-1].at - calls[0].at if len(calls) > 1 else 1.0
    achieved = (len(calls) - 1) / span
    print(
        f"{orgs:,} organizations, {workers} processes x {threads} threads, ceiling {limit:g}/s: "
        f"{len(calls):,} Stripe calls in {seconds:.0f} s, {achieved:.1f} ops/s "
        f"({achieved / limit:.2f}x), {refused} answered 429, busiest second {busiest} calls; "
        f"outcomes {outcomes}"
    )
    for result in results:
        if result["failures"]:
            print("failures:", result["failures"])
    alone, alone_calls, alone_refused = calls_alone(limit, workers, port, 3_000)
    print(
        f"the same {workers} processes making Stripe calls alone: {alone_calls:,} calls, "
        f"{alone:.1f} ops/s ({alone / limit:.2f}x), {alone_refused} answered 429; the "
        f"invoicing run reached {achieved / alone:.2f}x of that"
    )
    report("invoicing at Stripe's limit: ops/s", achieved, limit, ">= 0.8x", "ops/s")
    report("invoicing at Stripe's limit: 429s / calls", refused, len(calls), "< 0.01x")


def _root() -> str:
    from bench.common import ROOT

    return str(ROOT)


def _pythonpath() -> str:
    return os.pathsep.join([_root(), os.environ.get("PYTHONPATH", "")])


if __name__ == "__main__":
    url, base, limit, threads, first, last = sys.argv[1:7]
    worker(url, base, float(limit), int(first), int(last), int(threads))
