"""python -m entrypoints.worker.scheduler: registers the periodic jobs under stable ids, then runs
rq-scheduler. Run exactly one; registering again replaces, never duplicates."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from rq_scheduler import Scheduler

from adapters.redis_client import connect_redis
from entrypoints import logs
from entrypoints.bootstrap import current
from entrypoints.worker import JOB_PATHS


@dataclass(frozen=True)
class PeriodicJob:
    id: str  # stable: the same id is replaced on every start, never added twice
    job: str  # a name in JOB_PATHS
    interval_s: int


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("billing-sweep-webhook-inbox", "sweep_webhook_inbox", 60),
    # The ledger's durability window: consumption acknowledged but not yet in Postgres.
    PeriodicJob("billing-flush-quota-ledger", "flush_quota_ledger", 5),
    PeriodicJob("billing-monthly-invoicing", "schedule_monthly_invoicing", 3600),
    PeriodicJob("billing-dunning-check", "check_dunning", 3600),
)


def register(scheduler: Scheduler, jobs: Iterable[PeriodicJob], queue_name: str) -> list[str]:
    registered = []
    for periodic in jobs:
        if periodic.id in scheduler:
            scheduler.cancel(periodic.id)
        scheduler.schedule(scheduled_time=datetime.now(UTC), func=JOB_PATHS[periodic.job],
                           interval=periodic.interval_s, repeat=None, id=periodic.id,
                           queue_name=queue_name)
        registered.append(periodic.id)
    return registered


def main() -> int:
    settings = current().settings
    logs.configure(settings.log_level)
    if settings.redis_url is None:
        print("the scheduler needs REDIS_URL", file=sys.stderr)
        return 2
    connection = connect_redis(settings.redis_url, timeout_s=None)
    scheduler = Scheduler(queue_name=settings.rq_queue, connection=connection, interval=5)
    register(scheduler, PERIODIC_JOBS, settings.rq_queue)
    scheduler.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
