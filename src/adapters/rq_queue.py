"""The job queue on RQ. Jobs are named by the domain and resolved to dotted paths and to the
queue of their urgency here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rq import Queue, Retry, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry


class RqJobQueue:
    def __init__(
        self,
        queues: Mapping[str, Queue],
        job_paths: Mapping[str, str],
        job_queues: Mapping[str, str],
        retry_intervals: tuple[int, ...] = (10, 60, 300),
        job_timeouts: Mapping[str, int] | None = None,
    ) -> None:
        self.queues = dict(queues)
        self.job_paths = dict(job_paths)
        self.job_queues = dict(job_queues)
        self.retry_intervals = retry_intervals
        self.job_timeouts = dict(job_timeouts or {})

    def queue_for(self, job: str) -> Queue:
        return self.queues[self.job_queues[job]]

    def enqueue(self, job: str, *args: str, job_id: str | None = None) -> None:
        path = self.job_paths[job]
        queue = self.queue_for(job)
        retry = (
            Retry(max=len(self.retry_intervals), interval=list(self.retry_intervals))
            if self.retry_intervals
            else None
        )
        timeout = self.job_timeouts.get(job)  # None: RQ's default
        if not queue.is_async:  # the embedded default runs the job now, inline
            queue.enqueue(path, *args, job_id=job_id, retry=retry, job_timeout=timeout)
            return
        # One pipeline: RQ's enqueue otherwise makes two round trips to Redis.
        with queue.connection.pipeline() as pipe:
            queue.enqueue(
                path, *args, job_id=job_id, retry=retry, job_timeout=timeout, pipeline=pipe
            )
            pipe.execute()


def queue_report(
    queues: Mapping[str, Queue], now: datetime, failed_limit: int = 20
) -> list[dict[str, Any]]:
    """What operators watch, per queue, from RQ's own registries: depth, the oldest waiting
    job's age, jobs running, scheduled (retries), failed, and the newest failures."""
    report = []
    for kind, queue in queues.items():
        oldest_age_s = None
        first = queue.get_job_ids(0, 0)
        job = Job.fetch(first[0], connection=queue.connection) if first else None
        if job is not None and job.enqueued_at is not None:
            oldest_age_s = round((now - job.enqueued_at.replace(tzinfo=UTC)).total_seconds(), 1)
        failed = FailedJobRegistry(queue=queue)
        recent = []
        for job_id in failed.get_job_ids(0, failed_limit - 1):
            failed_job = (
                Job.fetch(job_id, connection=queue.connection)
                if Job.exists(job_id, connection=queue.connection)
                else None
            )
            info = failed_job.latest_result() if failed_job else None
            recent.append(
                {
                    "id": job_id,
                    "function": failed_job.func_name if failed_job else None,
                    "ended_at": failed_job.ended_at.replace(tzinfo=UTC)
                    if failed_job and failed_job.ended_at
                    else None,
                    "error": (info.exc_string or "").strip().splitlines()[-1:]
                    if info and info.exc_string
                    else [],
                }
            )
        report.append(
            {
                "kind": kind,
                "name": queue.name,
                "depth": queue.count,
                "oldest_age_s": oldest_age_s,
                "started": StartedJobRegistry(queue=queue).count,
                "scheduled": ScheduledJobRegistry(queue=queue).count,  # type: ignore[no-untyped-call]
                "failed": failed.count,
                "recent_failures": recent,
                "workers": Worker.count(queue=queue),
            }
        )
    return report
