"""Benchmark plumbing: a fresh database, gunicorn servers on loopback, a multi-process load
generator. Figures are printed as ratios against a baseline measured in the same run."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


@contextmanager
def fresh_database() -> Iterator[str]:
    from entrypoints import migrate

    name = f"billing_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def gunicorn(
    app: str, port: int, env: dict[str, str], workers: int = 2, threads: int = 1
) -> Iterator[None]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"{app} did not start on port {port}")
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)


@dataclass
class Result:
    name: str
    requests: int
    ok: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.name:<28} {self.ok:>6}/{self.requests:<6} {self.rate:>9.0f}/s "
            f"p50 {self.pct(50):>7.2f} ms  p99 {self.pct(99):>7.2f} ms"
        )


def _send(args: tuple[int, str, Sequence[tuple[bytes, dict[str, str]]]]) -> tuple[int, list[float]]:
    port, path, requests = args
    ok, latencies = 0, []
    for body, headers in requests:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        latencies.append((time.perf_counter() - started) * 1000)
        ok += response.status == 200
    return ok, latencies


def load(
    name: str,
    port: int,
    path: str,
    requests: Sequence[tuple[bytes, dict[str, str]]],
    concurrency: int,
) -> Result:
    """Send every request once from `concurrency` processes; time the whole run."""
    chunks = [(port, path, requests[i::concurrency]) for i in range(concurrency)]
    with ProcessPoolExecutor(max_workers=concurrency) as pool:
        started = time.perf_counter()
        results = list(pool.map(_send, chunks))
        seconds = time.perf_counter() - started
    latencies = [ms for _, chunk in results for ms in chunk]
    return Result(name, len(requests), sum(ok for ok, _ in results), seconds, latencies)


def report(path: str, ours: float, baseline: float, target: str, unit: str = "") -> None:
    """Print one row for `make bench`'s table as `BENCH {json}`: what was measured (`path`), our
    figure, the baseline measured in the same run, and the target for ours / baseline, written
    as `>= 0.9x` or `<= 1.5x`."""
    import json

    ratio = ours / baseline if baseline else float("inf")
    row = {
        "path": path,
        "ours": ours,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "unit": unit,
    }
    print("BENCH " + json.dumps(row), flush=True)
