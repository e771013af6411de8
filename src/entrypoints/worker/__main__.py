"""python -m entrypoints.worker [KIND[=THREADS] ...]: RQ workers on the queues by urgency, each
kind served by threads of its own (webhooks: $WEBHOOK_CONCURRENCY, others 1; all three kinds
when none is named), with RQ's scheduler for retries with backoff. Jobs get their dependencies
from the bootstrap.

Redis or Postgres going away never ends the process: its workers wait, with backoff, and go on
when the service answers again. SIGTERM or SIGINT stops it after the jobs in hand."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from entrypoints import logs
from entrypoints.bootstrap import bootstrap, redis_probe, worker_redis
from entrypoints.config import Settings, load_settings
from entrypoints.startup import OperatorError, operator_errors
from entrypoints.worker import threads
from entrypoints.worker.availability import Availability
from entrypoints.worker.scheduler import periodic_jobs

KINDS = ("urgent", "webhooks", "bulk", "reconcile")


def parse_pools(argv: list[str], settings: Settings) -> dict[str, tuple[Sequence[str], int]]:
    defaults = {
        "urgent": 1,
        "webhooks": settings.webhook_concurrency,
        "bulk": 1,
        "reconcile": 1,
    }
    pools: dict[str, tuple[Sequence[str], int]] = {}
    for spec in argv or list(KINDS):
        kind, _, count = spec.partition("=")
        threads = count or str(defaults.get(kind, 1))
        if kind not in KINDS or not threads.isdigit() or int(threads) < 1:
            raise OperatorError(
                f"unknown pool {spec!r}: use KIND[=THREADS] with KIND one of {', '.join(KINDS)}"
            )
        pools[kind] = ([settings.queue_names[kind]], int(threads))
    return pools


def main(argv: list[str]) -> int:
    settings = load_settings()
    logs.configure(settings.log_level)
    redis_url = settings.redis_url
    if redis_url is None:
        raise OperatorError("the worker needs REDIS_URL (the embedded default runs jobs inline)")
    pools = parse_pools(argv, settings)
    slots = sum(count for _, count in pools.values())
    # Every thread may hold a connection, plus the probe's.
    settings = settings.model_copy(update={"db_pool_size": max(settings.db_pool_size, slots + 1)})
    container = bootstrap(settings)  # built once; its job class hands it to every job
    stop = threading.Event()
    availability = Availability(
        {"redis": redis_probe(container.redis), "database": container.probes["database"]},
        stop,
        max_wait_s=settings.reconnect_max_wait_s,
    )
    periodic = [job.id for job in periodic_jobs(settings)]
    for name in ("rq.worker", "rq.scheduler"):
        logging.getLogger(name).addFilter(threads.RedisRetryLog(availability))
        logging.getLogger(name).addFilter(logs.Demote(periodic, settings.log_level))
    connection = worker_redis(settings)
    workers, live = threads.start(
        pools, connection, availability, settings.log_level, container.job_class
    )

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        for worker in list(live):
            worker._stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    logging.getLogger("billing.worker").info(
        "worker started", extra={"pools": {k: n for k, (_, n) in pools.items()}}
    )
    while any(t.is_alive() for t in workers):
        for thread in workers:
            thread.join(timeout=0.5)  # short joins: the main thread must stay free for signals
    return 0


if __name__ == "__main__":
    with operator_errors():
        sys.exit(main([arg for arg in sys.argv[1:] if arg != "--debug"]))
