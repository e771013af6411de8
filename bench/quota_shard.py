"""What one Redis shard can take: the quota script's own server time per consumption, read from
Redis's INFO commandstats after N calls, on a Redis this benchmark starts (port 31500, nothing
saved) so that no other client's commands are counted. 1e6 / usec_per_call is the ceiling of
consumptions per second of one Redis core, before any client or network cost.

    .venv/bin/python bench/quota_shard.py [--calls 30000] [--port 31500]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.redis_scripts import CONSUME

ORGS = 48


def keys(n: int) -> list[str]:
    tag = f"quota:{{org{n}}}"
    return [
        f"{tag}:window",
        f"{tag}:c:queries",
        f"{tag}:i:-",
        f"{tag}:ledger",
        f"{tag}:marks",
        f"{tag}:c:stt_words",
        "quota:pending",
    ]


def measure(client: redis.Redis, calls: int) -> float:
    script = client.register_script(CONSUME)
    for n in range(ORGS):
        window, counter = keys(n)[:2]
        client.hset(window, mapping={"start": 0, "end": 2**50, "limit:queries": -1})
        client.hset(counter, mapping={"period": 0, "used": 0})
    script(keys=keys(0), args=["consume", "queries", 1, 1, "", 1, "bench", "0", 0, "0"])
    client.config_resetstat()
    pipe = client.pipeline(transaction=False)
    for i in range(calls):
        args = ["consume", "queries", 1, 1, "", 1, "bench", "0", 0, "0"]
        script(keys=keys(i % ORGS), args=args, client=pipe)
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()
    stats = client.info("commandstats")["cmdstat_evalsha"]
    assert stats["calls"] == calls, stats
    return float(stats["usec_per_call"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30_000)
    parser.add_argument("--port", type=int, default=31500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            ["redis-server", "--port", str(args.port), "--save", "", "--appendonly", "no"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=args.port)
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            usec = measure(client, args.calls)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"quota script: {usec:.1f} us of Redis time per consumption ({args.calls} calls)")
    print(f"ceiling of one Redis core: {1e6 / usec:,.0f} consumptions/s")


if __name__ == "__main__":
    main()
