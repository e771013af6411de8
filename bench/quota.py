"""Quota check-and-consume speed, as ratios measured in the same run (targets: in-process p99
<= 1.3x a raw EVALSHA of the same script; over HTTP >= 0.9x a bare Flask endpoint doing one
EVALSHA, both on gunicorn with 2 workers). Needs Postgres, Redis and wrk.

    .venv/bin/python bench/quota.py [--calls 20000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.redis_quota import CONSUME
from bench import wrk
from bench.common import REDIS_URL, fresh_database, gunicorn
from domain.model.plans import Metric
from domain.services.quotas import consume_quota
from entrypoints.config import Settings
from tests.helpers import make_token

SECRET = "bench-secret-" + "x" * 40
UNLIMITED = {
    "default_tier": "free",
    "plans": [{"tier": "free", "price": "0.00", "queries": None, "documents": None}],
}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]


def in_process(url: str, catalog: Path, calls: int) -> dict[str, float]:
    from entrypoints.bootstrap import bootstrap

    settings = Settings(
        _env_file=None,
        app_env="test",
        database_url=url,
        redis_url=REDIS_URL,
        jwt_secret_key=SECRET,
        billing_catalog_file=catalog,
    )
    container = bootstrap(settings)
    from domain.model.organizations import Organization
    from domain.services.organizations import ensure_organization

    ensure_organization(container.uow, container.clock, "org_bench")
    del Organization
    deps, client = container.quota, redis.Redis.from_url(REDIS_URL)
    script = client.register_script(CONSUME)
    keys = ["quota:{raw}:window", "quota:{raw}:c:queries", "quota:{raw}:i:-", "quota:ledger"]
    client.hset(keys[0], mapping={"start": 0, "end": 2**50, "limit:queries": -1})
    client.hset(keys[1], mapping={"period": 0, "used": 0})
    for _ in range(500):  # warm both paths (windows, counters, script cache)
        consume_quota(deps, "org_bench", Metric.QUERIES)
        script(keys=keys, args=["consume", "queries", 1, 1, "", 1, "raw", "0", 0])
    ours, raw = [], []
    for _ in range(calls):
        started = time.perf_counter()
        consume_quota(deps, "org_bench", Metric.QUERIES)
        ours.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        script(keys=keys, args=["consume", "queries", 1, 1, "", 1, "raw", "0", 0])
        raw.append((time.perf_counter() - started) * 1000)
    (o50, o99), (r50, r99) = percentiles(ours), percentiles(raw)
    assert container.engine is not None
    container.engine.dispose()
    return {"ours_p50": o50, "ours_p99": o99, "raw_p50": r50, "raw_p99": r99}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    catalog = Path(tempfile.mkstemp(suffix=".json")[1])
    catalog.write_text(json.dumps(UNLIMITED))
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        with fresh_database() as url:
            local = in_process(url, catalog, args.calls)
            env = {
                "APP_ENV": "test",
                "DATABASE_URL": url,
                "REDIS_URL": REDIS_URL,
                "JWT_SECRET_KEY": SECRET,
                "LOG_LEVEL": "WARNING",
                "BILLING_CATALOG_FILE": str(catalog),
            }
            token = make_token("org_bench", "service", secret=SECRET, expires_in=3600)
            body = json.dumps({"metric": "queries"})
            path = "/api/v1/quota/consume"
            runs: dict[str, list[wrk.WrkResult]] = {"bare": [], "ours": []}
            with (
                gunicorn("bench.bare_app:app", 18091, env, threads=4),
                gunicorn("wsgi:app", 18090, env, threads=4),
            ):
                for port in (18091, 18090):
                    wrk.run_post(
                        "warm-up", f"http://127.0.0.1:{port}", path, body, token, seconds=2
                    )
                for _ in range(2):  # interleaved, so drift on a shared machine hits both
                    runs["bare"].append(
                        wrk.run_post(
                            "bare EVALSHA endpoint",
                            "http://127.0.0.1:18091",
                            path,
                            body,
                            token,
                            seconds=args.seconds,
                            connections=args.connections,
                        )
                    )
                    runs["ours"].append(
                        wrk.run_post(
                            "quota consume",
                            "http://127.0.0.1:18090",
                            path,
                            body,
                            token,
                            seconds=args.seconds,
                            connections=args.connections,
                        )
                    )
            bare = max(runs["bare"], key=lambda r: r.accepted_per_s)
            ours = max(runs["ours"], key=lambda r: r.accepted_per_s)
    finally:
        catalog.unlink()
        redis.Redis.from_url(REDIS_URL).flushdb()
    print(
        f"in-process, {args.calls} calls each: consume_quota p50 {local['ours_p50']:.3f} ms "
        f"p99 {local['ours_p99']:.3f} ms; raw EVALSHA p50 {local['raw_p50']:.3f} ms "
        f"p99 {local['raw_p99']:.3f} ms; p99 ratio {local['ours_p99'] / local['raw_p99']:.2f}x "
        "(target <= 1.3x)"
    )
    print(bare.line())
    print(ours.line())
    ratio = ours.accepted_per_s / bare.accepted_per_s
    print(f"HTTP throughput ratio {ratio:.2f}x (target >= 0.9x)")
    print(
        json.dumps(
            {
                "in_process_p99_ratio": round(local["ours_p99"] / local["raw_p99"], 3),
                "http_ratio": round(ratio, 3),
                "bare_per_s": round(bare.accepted_per_s),
                "consume_per_s": round(ours.accepted_per_s),
            }
        )
    )


if __name__ == "__main__":
    main()
