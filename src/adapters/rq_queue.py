"""The job queue on RQ. Jobs are named by the domain and resolved to dotted paths and to the
queue of their urgency here."""

from __future__ import annotations

from collections.abc import Mapping

from rq import Queue, Retry


class RqJobQueue:
    def __init__(self, queues: Mapping[str, Queue], job_paths: Mapping[str, str],
                 job_queues: Mapping[str, str],
                 retry_intervals: tuple[int, ...] = (10, 60, 300)) -> None:
        self.queues = dict(queues)
        self.job_paths = dict(job_paths)
        self.job_queues = dict(job_queues)
        self.retry_intervals = retry_intervals

    def queue_for(self, job: str) -> Queue:
        return self.queues[self.job_queues[job]]

    def enqueue(self, job: str, *args: str, job_id: str | None = None) -> None:
        path = self.job_paths[job]
        queue = self.queue_for(job)
        retry = (Retry(max=len(self.retry_intervals), interval=list(self.retry_intervals))
                 if self.retry_intervals else None)
        if not queue.is_async:  # the embedded default runs the job now, inline
            queue.enqueue(path, *args, job_id=job_id, retry=retry)
            return
        # One pipeline: RQ's enqueue otherwise makes two round trips to Redis.
        with queue.connection.pipeline() as pipe:
            queue.enqueue(path, *args, job_id=job_id, retry=retry, pipeline=pipe)
            pipe.execute()
