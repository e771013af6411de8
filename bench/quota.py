"""Quota check-and-consume speed, as ratios measured in the same run (targets: in-process p99
<= 1.3x a raw EVALSHA of the same script, without and with usage alerts and a spend cap
configured; over HTTP >= 0.9x a bare Flask endpoint doing one EVALSHA, both on gunicorn with 2
workers). Needs Postgres and Redis.

    .venv/bin/python bench/quota.py [--calls 20000] [--seconds 8] [--in-process-only]
        [--port 32000]
    .venv/bin/python bench/quota.py --cluster   # single Redis vs a Redis Cluster, calls/s

Over HTTP the p99 target is <= 1.5x the bare endpoint's. Rows for `make bench`'s table are
printed through bench.common.report.
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

from adapters.redis_scripts import CONSUME
from bench import wrk
from bench.common import REDIS_URL, fresh_database, gunicorn, report
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


# With alerts and a cap: every consumption of stt_words reads the cap, the other voice counter
# and two thresholds (never reached here, so every call does the whole check).
ALERT_THRESHOLDS = "amount:1000000000000|1000000000000,amount:2000000000000|2000000000000"
CAP_WORDS = 999_999_990  # a $999,999.99 cap at $1.00 per 1,000 words


def in_process(url: str, catalog: Path, calls: int, alerts: bool) -> dict[str, float]:
    from entrypoints.bootstrap import bootstrap

    settings = Settings(
        _env_file=None,
        app_env="test",
        database_url=url,
        redis_url=REDIS_URL,
        jwt_secret_key=SECRET,
        billing_catalog_file=catalog,
        redis_timeout_ms=2000,  # a loaded machine must not turn a slow reply into a failure
    )
    container = bootstrap(settings)
    from domain.model.organizations import Organization
    from domain.services.organizations import ensure_organization

    ensure_organization(container.uow, container.clock, "org_bench")
    del Organization
    deps, client = container.quota, redis.Redis.from_url(REDIS_URL)
    client.flushdb()  # the raw runs' ledger entries belong to no organization of this database
    metric = Metric.STT_WORDS if alerts else Metric.QUERIES
    if alerts:
        from domain.model.alerts import AlertThreshold, ThresholdKind
        from domain.services.alerts import set_alerts, set_spend_cap

        levels = [1_000_000_000_000, 2_000_000_000_000]
        set_alerts(
            deps,
            "org_bench",
            [AlertThreshold(metric, ThresholdKind.AMOUNT, v) for v in levels],
            "bench",
        )
        set_spend_cap(deps, "org_bench", (99_999_999, "usd"), "bench")
    script = client.register_script(CONSUME)
    tag = "quota:{raw}"
    keys = [f"{tag}:window", f"{tag}:c:{metric.value}", f"{tag}:i:-", f"{tag}:ledger"]
    keys += [f"{tag}:marks", f"{tag}:c:tts_words", "quota:pending"]
    window = {"start": 0, "end": 2**50, f"limit:{metric.value}": -1}
    if alerts:
        window.update({f"alerts:{metric.value}": ALERT_THRESHOLDS, "cap": CAP_WORDS})
    client.hset(keys[0], mapping=window)
    client.hset(keys[1], mapping={"period": 0, "used": 0})
    client.hset(keys[5], mapping={"period": 0, "used": 0})
    raw_args = ["consume", metric.value, 1, 1, "", 1, "raw", "0", 0, "1" if alerts else "0"]
    for _ in range(500):  # warm both paths (windows, counters, script cache)
        consume_quota(deps, "org_bench", metric)
        script(keys=keys, args=raw_args)
    ours, raw = [], []
    for _ in range(calls):
        started = time.perf_counter()
        consume_quota(deps, "org_bench", metric)
        ours.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        script(keys=keys, args=raw_args)
        raw.append((time.perf_counter() - started) * 1000)
    if alerts:  # every call went through the cap and the thresholds, none was refused
        reply = deps.counter.peek("org_bench", metric, container.clock.now())
        assert reply.used == 500 + calls, reply
    (o50, o99), (r50, r99) = percentiles(ours), percentiles(raw)
    assert container.engine is not None
    container.engine.dispose()
    return {"ours_p50": o50, "ours_p99": o99, "raw_p50": r50, "raw_p99": r99}


def print_run(what: str, calls: int, run: dict[str, float]) -> None:
    print(
        f"{what}, {calls} calls each: consume_quota p50 {run['ours_p50']:.3f} ms "
        f"p99 {run['ours_p99']:.3f} ms; raw EVALSHA p50 {run['raw_p50']:.3f} ms "
        f"p99 {run['raw_p99']:.3f} ms; p99 ratio {run['ours_p99'] / run['raw_p99']:.2f}x "
        "(target <= 1.3x)"
    )


def ratios(local: dict[str, float], alerting: dict[str, float]) -> dict[str, float]:
    return {
        "in_process_p99_ratio": round(local["ours_p99"] / local["raw_p99"], 3),
        "in_process_p99_ratio_alerts_cap": round(alerting["ours_p99"] / alerting["raw_p99"], 3),
    }


def in_process_rows(local: dict[str, float], alerting: dict[str, float]) -> None:
    report("quota consume in-process (p99)", local["ours_p99"], local["raw_p99"], "<= 1.3x", "ms")
    report(
        "quota consume in-process, alerts and a cap (p99)",
        alerting["ours_p99"],
        alerting["raw_p99"],
        "<= 1.3x",
        "ms",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--in-process-only", action="store_true")
    parser.add_argument("--cluster", action="store_true", help="see bench/quota_cluster.py")
    parser.add_argument("--port", type=int, default=32000, help="ours; the bare app takes +1")
    args = parser.parse_args()
    if args.cluster:
        from bench import quota_cluster

        quota_cluster.main(args.calls)
        return
    catalog = Path(tempfile.mkstemp(suffix=".json")[1])
    catalog.write_text(json.dumps(UNLIMITED))
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        with fresh_database() as url:
            local = in_process(url, catalog, args.calls, alerts=False)
        with fresh_database() as url:
            alerting = in_process(url, catalog, args.calls, alerts=True)
        print_run("in-process", args.calls, local)
        print_run("in-process with alerts and a spend cap", args.calls, alerting)
        in_process_rows(local, alerting)
        if args.in_process_only:
            print(json.dumps(ratios(local, alerting)))
            return
        with fresh_database() as url:
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
            ours_url = f"http://127.0.0.1:{args.port}"
            bare_url = f"http://127.0.0.1:{args.port + 1}"
            with (
                gunicorn("bench.bare_app:app", args.port + 1, env, threads=4),
                gunicorn("wsgi:app", args.port, env, threads=4),
            ):
                for port in (args.port + 1, args.port):
                    wrk.run_post(
                        "warm-up", f"http://127.0.0.1:{port}", path, body, token, seconds=2
                    )
                for _ in range(2):  # interleaved, so drift on a shared machine hits both
                    runs["bare"].append(
                        wrk.run_post(
                            "bare EVALSHA endpoint",
                            bare_url,
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
                            ours_url,
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
    print(bare.line())
    print(ours.line())
    ratio = ours.accepted_per_s / bare.accepted_per_s
    print(f"HTTP throughput ratio {ratio:.2f}x (target >= 0.9x)")
    print(f"HTTP p99 ratio {ours.p99_ms / bare.p99_ms:.2f}x (target <= 1.5x)")
    report(
        "quota consume over HTTP (accepted/s)",
        ours.accepted_per_s,
        bare.accepted_per_s,
        ">= 0.9x",
        "/s",
    )
    report("quota consume over HTTP (p99)", ours.p99_ms, bare.p99_ms, "<= 1.5x", "ms")
    print(
        json.dumps(
            {
                **ratios(local, alerting),
                "http_ratio": round(ratio, 3),
                "http_p99_ratio": round(ours.p99_ms / bare.p99_ms, 3),
                "bare_per_s": round(bare.accepted_per_s),
                "consume_per_s": round(ours.accepted_per_s),
            }
        )
    )


if __name__ == "__main__":
    main()
