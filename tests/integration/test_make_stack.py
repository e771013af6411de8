"""`make stack`'s script: creates a missing database, migrates it, runs web, worker and
scheduler together (a consumption reaches the Postgres ledger through the worker's flush job,
which the scheduler enqueues), and Ctrl-C stops all three."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from tests.helpers import TEST_JWT_SECRET, bearer
from tests.integration.conftest import ADMIN_URL, drop_database
from tests.integration.procfile import RedisServer, post, wait_for

ROOT = Path(__file__).resolve().parents[2]
PORT, REDIS_PORT = 17820, 17391


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_make_stack_runs_and_stops_web_worker_and_scheduler(tmp_path):
    name = f"billing_stack_{uuid.uuid4().hex[:8]}"
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    redis_server = RedisServer(REDIS_PORT)
    log = (tmp_path / "stack.log").open("wb")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_server.url,
        "PORT": str(PORT),
        "BIN": str(Path(sys.executable).parent),
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "LEDGER_FLUSH_INTERVAL_S": "1",
        "RATE_LIMIT_ENABLED": "false",
        "INSTANCE_PATH": str(tmp_path / "instance"),
    }
    stack = None
    try:
        redis_server.start()
        stack = subprocess.Popen(
            ["scripts/stack.sh"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def web_up() -> bool:
            assert stack.poll() is None, (tmp_path / "stack.log").read_text()[-2000:]
            return post(PORT, "/healthz", b"", {}) == 405  # up: it answers (healthz is a GET)

        wait_for(web_up, 90, "the web process")
        body = json.dumps({"metric": "queries", "idempotency_key": "first"}).encode()
        headers = {**bearer("org_stack", "service"), "Content-Type": "application/json"}
        assert post(PORT, "/api/v1/quota/consume", body, headers) == 200
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                ledger = "SELECT count(*) FROM usage_events WHERE org_id = 'org_stack'"
                wait_for(lambda: conn.execute(text(ledger)).scalar() == 1, 60, "the flush job")
        finally:
            engine.dispose()
        stack.send_signal(signal.SIGINT)  # what Ctrl-C sends the script
        stack.wait(timeout=60)
        wait_for(lambda: _gone(stack.pid), 30, "web, worker and scheduler to stop")
    finally:
        if stack is not None and not _gone(stack.pid):
            os.killpg(stack.pid, signal.SIGKILL)
        log.close()
        redis_server.cleanup()
        drop_database(url)
