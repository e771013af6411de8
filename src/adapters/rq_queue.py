"""The job queue on RQ. Jobs are named by the domain and resolved to dotted paths here."""

from __future__ import annotations

from collections.abc import Mapping

from rq import Queue, Retry


class RqJobQueue:
    def __init__(self, queue: Queue, job_paths: Mapping[str, str],
                 retry_intervals: tuple[int, ...] = (10, 60, 300)) -> None:
        self.queue = queue
        self.job_paths = dict(job_paths)
        self.retry_intervals = retry_intervals

    def enqueue(self, job: str, *args: str, job_id: str | None = None) -> None:
        path = self.job_paths[job]
        retry = (Retry(max=len(self.retry_intervals), interval=list(self.retry_intervals))
                 if self.retry_intervals else None)
        if not self.queue.is_async:  # the embedded default runs the job now, inline
            self.queue.enqueue(path, *args, job_id=job_id, retry=retry)
            return
        # One pipeline: RQ's enqueue otherwise makes two round trips to Redis.
        with self.queue.connection.pipeline() as pipe:
            self.queue.enqueue(path, *args, job_id=job_id, retry=retry, pipeline=pipe)
            pipe.execute()
