"""python -m entrypoints.worker.scheduler: keeps the periodic jobs registered under stable ids
and moves them to their queues when due (rq-scheduler). Run exactly one.

The schedule lives in Redis, so a Redis that restarts without its data loses it: every tick
checks that each periodic job is still there and registers again the ones missing (same id,
never a second copy). A Redis outage never ends the process: it waits with backoff, logs once
when Redis goes and once when it returns, and goes on."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

import redis
from rq_scheduler import Scheduler

from entrypoints import logs
from entrypoints.bootstrap import redis_probe, request_redis, worker_redis
from entrypoints.config import Settings, load_settings
from entrypoints.startup import OperatorError, operator_errors
from entrypoints.worker import JOB_PATHS, JOB_QUEUES, JOB_TIMEOUTS
from entrypoints.worker.availability import Availability

log = logging.getLogger("billing.scheduler")


@dataclass(frozen=True)
class PeriodicJob:
    id: str  # stable: the same id is replaced on every start, never added twice
    job: str  # a name in JOB_PATHS
    interval_s: int


def periodic_jobs(settings: Settings) -> tuple[PeriodicJob, ...]:
    return (
        PeriodicJob(
            "billing-sweep-webhook-inbox", "sweep_webhook_inbox", settings.webhook_sweep_interval_s
        ),
        # The ledger's durability window: consumption acknowledged but not yet in Postgres.
        PeriodicJob(
            "billing-flush-quota-ledger", "flush_quota_ledger", settings.ledger_flush_interval_s
        ),
        PeriodicJob(
            "billing-sweep-outbound-webhooks",
            "sweep_outbound_webhooks",
            settings.outbound_sweep_interval_s,
        ),
        PeriodicJob("billing-monthly-invoicing", "schedule_monthly_invoicing", 3600),
        PeriodicJob("billing-dunning-check", "check_dunning", 3600),
        # The ledger's monthly partitions, three months ahead (Postgres; nothing elsewhere).
        PeriodicJob("billing-usage-partitions", "create_usage_partitions", 86_400),
        PeriodicJob(
            "billing-reconciliation", "schedule_reconciliation", settings.reconcile_interval_s
        ),
    )


def _registered(scheduler: Scheduler, job_id: str) -> bool:
    """In the schedule, and its job hash still there (a lost hash is silently skipped)."""
    return job_id in scheduler and bool(scheduler.connection.exists(f"rq:job:{job_id}"))


def register(
    scheduler: Scheduler,
    jobs: Iterable[PeriodicJob],
    queue_names: dict[str, str],
    *,
    only_missing: bool = False,
) -> list[str]:
    """Schedule each job now and then every interval; a job already there is replaced (at
    start, so a changed interval applies) or, with `only_missing`, left alone."""
    registered = []
    for periodic in jobs:
        present = _registered(scheduler, periodic.id)
        if only_missing and present:
            continue
        if periodic.id in scheduler:
            scheduler.cancel(periodic.id)
        scheduler.schedule(
            scheduled_time=datetime.now(UTC),
            func=JOB_PATHS[periodic.job],
            interval=periodic.interval_s,
            repeat=None,
            id=periodic.id,
            queue_name=queue_names[JOB_QUEUES[periodic.job]],
            timeout=JOB_TIMEOUTS.get(periodic.job),
        )
        registered.append(periodic.id)
    return registered


def tick(
    scheduler: Scheduler, jobs: tuple[PeriodicJob, ...], queue_names: dict[str, str], first: bool
) -> None:
    if first or not scheduler.connection.exists(scheduler.key):
        scheduler.register_birth()
    missing = register(scheduler, jobs, queue_names, only_missing=not first)
    if missing and not first:
        log.warning("periodic jobs registered again", extra={"jobs": missing})
    scheduler.heartbeat()
    if scheduler.acquire_lock():
        try:
            scheduler.enqueue_jobs()
        finally:
            scheduler.remove_lock()


def run(
    scheduler: Scheduler,
    jobs: tuple[PeriodicJob, ...],
    queue_names: dict[str, str],
    availability: Availability,
    poll_s: float,
) -> None:
    first = True
    while not availability.stop.is_set():
        try:
            tick(scheduler, jobs, queue_names, first)
            first = False
            availability.saw("redis", True)
        except (redis.RedisError, OSError):
            availability.saw("redis", False)
            if not availability.wait():
                break
            continue
        availability.stop.wait(poll_s)
    try:
        scheduler.register_death()
    except redis.RedisError:
        pass


def main() -> int:
    settings = load_settings()
    logs.configure(settings.log_level)
    if settings.redis_url is None:
        raise OperatorError("the scheduler needs REDIS_URL (the embedded default runs jobs inline)")
    connection = worker_redis(settings)
    probe = request_redis(settings)  # fails fast: the probe must not hang
    stop = threading.Event()
    availability = Availability(
        {"redis": redis_probe(probe)}, stop, max_wait_s=settings.reconnect_max_wait_s
    )
    queue_names = settings.queue_names
    # rq-scheduler's interval sets its key's expiry; the loop below polls every `poll_s`.
    scheduler = Scheduler(
        queue_name=queue_names["urgent"],
        connection=connection,
        interval=max(1, int(settings.scheduler_poll_s)),
    )

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("scheduler started", extra={"queues": queue_names})
    run(scheduler, periodic_jobs(settings), queue_names, availability, settings.scheduler_poll_s)
    return 0


if __name__ == "__main__":
    with operator_errors():
        sys.exit(main())
