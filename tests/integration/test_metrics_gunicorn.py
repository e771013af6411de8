"""/metrics under real gunicorn with two workers and PROMETHEUS_MULTIPROC_DIR: requests
served by either worker are all counted in one scrape, and the state read from the real
Postgres and Redis is exposed with both sources up."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.helpers import TEST_JWT_SECRET
from tests.integration.conftest import REDIS_URL
from tests.metrics_support import value

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a new connection each
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def wait_until_up(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if get(port, "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not answer: " + log.read_text(errors="replace"))


def pids_that_counted(directory: Path) -> set[str]:
    """prometheus-client's files are named like histogram_<pid>.db."""
    return {path.stem.rsplit("_", 1)[1] for path in directory.glob("histogram_*.db")}


def test_requests_over_both_workers_are_counted_in_one_scrape(
    database_url, clean_db, clean_redis: redis.Redis, tmp_path: Path
):
    port = free_port()
    samples = tmp_path / "prometheus"
    samples.mkdir()
    (samples / "histogram_999999.db").write_bytes(b"")  # an earlier run's: cleared on start
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "PROMETHEUS_MULTIPROC_DIR": str(samples),
        "METRICS_ALLOWED_IPS": "127.0.0.1",
        "RATE_LIMIT_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = [gunicorn, "wsgi:app", "--config", "python:entrypoints.gunicorn_conf"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(port, process, log)
        sent = 1  # wait_until_up's successful probe
        while len(pids_that_counted(samples) - {"999999"}) < 2 or sent < 40:
            assert sent < 2000, "every request went to one worker"
            assert get(port, "/healthz")[0] == 200
            sent += 1
        assert "999999" not in pids_that_counted(samples)
        status, text = get(port, "/metrics")
        assert status == 200, text
        count = "billing_http_request_duration_seconds_count"
        assert value(text, count, route="/healthz", method="GET", status="200") == sent
        assert value(text, "billing_metrics_source_up", source="database") == 1
        assert value(text, "billing_metrics_source_up", source="redis") == 1
        assert value(text, "billing_queue_depth", queue="webhooks") == 0
        assert value(text, "billing_ledger_pending_entries") == 0
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
