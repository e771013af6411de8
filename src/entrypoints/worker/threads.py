"""RQ's non-forking worker run in threads, each one supervised so that no outage ends it.

Why threads: a webhook job spends most of its time waiting on Stripe (tens to hundreds of ms)
and on Postgres, with the GIL released. Threads of one process share one container (one
SQLAlchemy pool, one Stripe client, one Redis pool) and no job pays a fork or a cold start;
a process per slot would cost memory per slot for no gain on I/O-bound work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis
from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.timeouts import TimerDeathPenalty

from entrypoints.worker.availability import Availability

log = logging.getLogger("billing.worker")


class ThreadWorker(SimpleWorker):
    """A SimpleWorker fit for a thread: job timeouts by a timer (SIGALRM reaches only the main
    thread), signals left to the process, and after a failed job it first waits until Redis
    and Postgres answer, so an outage costs each thread one attempt, not a retry storm."""

    death_penalty_class = TimerDeathPenalty
    idle_check_s = 5  # how often an idle thread looks at the stop flag

    def __init__(self, *args: Any, availability: Availability, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.availability = availability
        self.max_connection_wait_time = availability.max_wait_s
        self._suspect = False

    def _install_signal_handlers(self) -> None:
        """The main thread handles SIGTERM/SIGINT for every worker of the process."""

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> Any:
        while True:
            if self._suspect:
                self._suspect = False
                if not self.availability.wait():
                    raise StopRequested()
            if self._stop_requested or self.availability.stop.is_set():
                raise StopRequested()
            result = super().dequeue_job_and_maintain_ttl(timeout, self.idle_check_s)
            self.availability.saw("redis", True)
            if result is not None:
                return result

    def handle_job_failure(self, *args: Any, **kwargs: Any) -> Any:
        self._suspect = True
        return super().handle_job_failure(*args, **kwargs)


class RedisRetryLog(logging.Filter):
    """RQ logs every reconnection attempt while Redis is away; turn them into one state change."""

    def __init__(self, availability: Availability) -> None:
        super().__init__()
        self.availability = availability

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if "could not connect to Redis" in str(record.msg) or isinstance(
            error, redis.ConnectionError | redis.TimeoutError
        ):
            self.availability.saw("redis", False)
            return False
        return True


def serve(
    queues: Sequence[str],
    connection: redis.Redis,
    availability: Availability,
    live: set[ThreadWorker],
    *,
    job_class: type[Job] = Job,
    with_scheduler: bool = False,
    log_level: str = "INFO",
    make: Callable[..., ThreadWorker] = ThreadWorker,
) -> None:
    """Run workers on `queues` until a stop is requested. A worker that quits on an error (a
    Redis outage mid-job, a lost connection) is replaced once the services answer again; its
    interrupted job is recovered by RQ's registries and, for webhooks, by the inbox sweep."""
    stop = availability.stop
    while not stop.is_set():
        if not availability.wait():
            return
        try:
            # Maintenance restarts RQ's retry scheduler if an outage ended it: every 30 s,
            # not RQ's 10 minutes, so retries are not held back long after Redis returns.
            worker = make(
                list(queues),
                connection=connection,
                availability=availability,
                job_class=job_class,
                log_job_description=False,
                maintenance_interval=30,
            )
            live.add(worker)
            try:
                worker.work(with_scheduler=with_scheduler, logging_level=log_level)
            finally:
                live.discard(worker)
        except (redis.RedisError, OSError):
            availability.saw("redis", False)
        except Exception:  # the thread must outlive any one worker
            log.exception("worker stopped on an error; starting another")
        if not stop.is_set():
            availability.check()
            stop.wait(availability.first_wait_s)


def start(
    pools: dict[str, tuple[Sequence[str], int]],
    connection: redis.Redis,
    availability: Availability,
    log_level: str,
    job_class: type[Job] = Job,
) -> tuple[list[threading.Thread], set[ThreadWorker]]:
    """One thread per slot; the first slot also runs RQ's scheduler (retries with backoff)."""
    live: set[ThreadWorker] = set()
    threads: list[threading.Thread] = []
    for kind, (queues, count) in pools.items():
        for n in range(count):
            thread = threading.Thread(
                target=serve,
                name=f"worker-{kind}-{n}",
                daemon=True,
                args=(queues, connection, availability, live),
                kwargs={
                    "with_scheduler": not threads,
                    "log_level": log_level,
                    "job_class": job_class,
                },
            )
            threads.append(thread)
    for thread in threads:
        thread.start()
    return threads, live
