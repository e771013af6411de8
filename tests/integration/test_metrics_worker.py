"""A worker process sharing the web's PROMETHEUS_MULTIPROC_DIR: the invoicing outcomes of the
jobs it runs appear in a scrape of that directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from entrypoints import metrics
from entrypoints.bootstrap import bootstrap
from tests.helpers import TEST_JWT_SECRET
from tests.integration.conftest import REDIS_URL
from tests.metrics_support import value

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_on_the_same_directory_adds_its_invoicing_outcomes(
    settings, database_url, clean_db, clean_redis, tmp_path: Path
):
    samples = tmp_path / "prometheus"
    samples.mkdir()
    queued = settings.model_copy(update={"rq_queue": "metrics-it"})
    container = bootstrap(queued)
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "RQ_QUEUE": "metrics-it",
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "PROMETHEUS_MULTIPROC_DIR": str(samples),
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.worker", "bulk"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for org in ("org_w1", "org_w2", "org_w3"):
            container.jobs.enqueue("invoice_organization", org, "2026-12-01T00:00:00+00:00")
        name = "billing_invoicing_outcomes_total"
        deadline = time.monotonic() + 60
        counted = 0.0
        while time.monotonic() < deadline and counted < 3:
            assert worker.poll() is None, log.read_text(errors="replace")
            text = metrics.exposition(None, samples).decode()
            counted = value(text, name, outcome="nothing_to_bill")
            time.sleep(0.2)
        assert counted == 3, log.read_text(errors="replace")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        if container.engine is not None:
            container.engine.dispose()
