"""What the service's state looks like right now, read for a metrics scrape: the webhook
inbox, usage billed and unbilled and usage invoices (Postgres), the job queues and the quota
ledger (Redis). Each source answers within a short deadline or is reported down; a scrape
never waits on a hung database."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from rq import Queue
from rq.job import Job
from sqlalchemy import Engine, case, func, select, text

from adapters.db import tables as t
from adapters.redis_quota import RedisQuotaCounter

# Statuses whose oldest event's age matters: work waiting or kept for an operator.
UNFINISHED = ("pending", "parked", "dead")


@dataclass(frozen=True)
class Sample:
    family: str  # the metric family's name, without the `billing_` prefix
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class Reading:
    source: str  # "database" or "redis"
    up: bool
    samples: list[Sample] = field(default_factory=list)


def _sample(family: str, value: float, **labels: str) -> Sample:
    return Sample(family, tuple(sorted(labels.items())), float(value))


def read_database(engine: Engine, now: datetime, timeout_ms: int) -> list[Sample]:
    samples: list[Sample] = []
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))
        events = t.webhook_events.c
        inbox = conn.execute(
            select(events.status, func.count(), func.min(events.received_at)).group_by(
                events.status
            )
        ).all()
        for status, count, oldest in inbox:
            samples.append(_sample("webhook_inbox_events", count, status=status))
            if status in UNFINISHED and oldest is not None:
                age = (now - _aware(oldest)).total_seconds()
                samples.append(_sample("webhook_inbox_oldest_age_seconds", age, status=status))
        billed = case((t.usage_events.c.invoice_id.is_(None), "unbilled"), else_="billed")
        usage = conn.execute(
            select(t.usage_events.c.metric, billed, func.sum(t.usage_events.c.quantity)).group_by(
                t.usage_events.c.metric, billed
            )
        ).all()
        for metric, state, quantity in usage:
            samples.append(_sample("usage_quantity", quantity or 0, metric=metric, state=state))
        invoices = conn.execute(
            select(t.usage_invoices.c.status, func.count()).group_by(t.usage_invoices.c.status)
        ).all()
        for status, count in invoices:
            samples.append(_sample("usage_invoices", count, status=status))
        conn.rollback()
    return samples


def read_redis(
    client: redis.Redis,
    queues: Mapping[str, Queue],
    now: datetime,
    quota: RedisQuotaCounter | None = None,
) -> list[Sample]:
    """The queues (on `client`, RQ's Redis) and the ledger's backlog (on the quota counter's
    store, by default the same Redis)."""
    samples: list[Sample] = []
    for kind, queue in queues.items():
        samples.append(_sample("queue_depth", queue.count, queue=kind))
        first = queue.get_job_ids(0, 0)
        job = Job.fetch(first[0], connection=queue.connection) if first else None
        age = 0.0
        if job is not None and job.enqueued_at is not None:
            age = max(0.0, (now - _aware(job.enqueued_at)).total_seconds())
        samples.append(_sample("queue_oldest_job_age_seconds", age, queue=kind))
    pending, oldest_ms = (quota or RedisQuotaCounter(client)).ledger_backlog()
    lag = 0.0 if oldest_ms is None else max(0.0, now.timestamp() - oldest_ms / 1000)
    samples.append(_sample("ledger_flush_lag_seconds", lag))
    samples.append(_sample("ledger_pending_entries", pending))
    return samples


class StateReader:
    """Reads every source side by side, each within `deadline_s`; a source that fails or is
    late is reported down and its samples are left out."""

    def __init__(self, sources: Mapping[str, Callable[[], list[Sample]]], deadline_s: float):
        self.sources = dict(sources)
        self.deadline_s = deadline_s
        # Shared across scrapes: a source stuck past its deadline keeps at most its own thread.
        self._pool = ThreadPoolExecutor(max_workers=2 * len(self.sources) or 1)

    def read(self) -> list[Reading]:
        futures = {name: self._pool.submit(read) for name, read in self.sources.items()}
        readings = []
        for name, future in futures.items():
            try:
                readings.append(Reading(name, True, future.result(timeout=self.deadline_s)))
            except FutureTimeout:
                future.cancel()
                readings.append(Reading(name, False))
            except Exception:  # noqa: BLE001 - any failure of a source means it is down
                readings.append(Reading(name, False))
        return readings


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
