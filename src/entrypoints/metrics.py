"""Prometheus metrics, counted at the edges (HTTP hooks, the quota and usage endpoints, the
worker's jobs, the timed payment gateway) and, for state, read at scrape time.

Under gunicorn `PROMETHEUS_MULTIPROC_DIR` is set: every worker writes its samples there and a
scrape collects them all (prometheus-client's multiprocess mode). Without it the samples stay in
this process (the embedded default, tests). Every label takes a bounded set of values: routes
are URL rules, never raw paths; statuses are HTTP statuses or stable error codes."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import Metric as Family
from prometheus_client.registry import Collector

from domain.model.plans import Metric
from domain.model.quotas import QuotaDecision

# The service's own samples (not prometheus-client's global registry: no process or platform
# collectors, which multiprocess mode cannot aggregate).
REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_LATENCY = Histogram(
    "billing_http_request_duration_seconds",
    "HTTP requests by route (the URL rule), method and status, and how long they took.",
    ("route", "method", "status"),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
QUOTA_DECISIONS = Counter(
    "billing_quota_decisions",
    "Quota consumptions and releases by metric and outcome "
    "(allowed, duplicate, refused, capped, degraded, unavailable).",
    ("operation", "metric", "outcome"),
    registry=REGISTRY,
)
USAGE_EVENTS = Counter(
    "billing_usage_events",
    "Usage events recorded through the API, by outcome (accepted, duplicate).",
    ("outcome",),
    registry=REGISTRY,
)
INVOICING_OUTCOMES = Counter(
    "billing_invoicing_outcomes",
    "Usage invoicing runs of one organization, by outcome.",
    ("outcome",),
    registry=REGISTRY,
)
STRIPE_CALLS = Histogram(
    "billing_stripe_call_duration_seconds",
    "Calls to Stripe by operation and status (ok or the error's stable code), and their time.",
    ("operation", "status"),
    buckets=(*LATENCY_BUCKETS, 20.0, 30.0),
    registry=REGISTRY,
)
DATABASE_READS = Counter(
    "billing_database_reads",
    "Reads a replica may serve (analytics, dashboard, usage_summary), by the database that "
    "served them and why (caught_up, behind, unreachable, not_a_standby, mark_unknown, failed).",
    ("purpose", "database", "reason"),
    registry=REGISTRY,
)

# Families read at scrape time: (name without `billing_`, help, labels).
STATE_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "webhook_inbox_events": ("Stripe events in the inbox by status.", ("status",)),
    "webhook_inbox_oldest_age_seconds": (
        "Age of the oldest inbox event by status (pending, parked, dead).",
        ("status",),
    ),
    "usage_quantity": (
        "Usage stored, by metric, billed (on a usage invoice) or unbilled.",
        ("metric", "state"),
    ),
    "usage_invoices": ("Usage invoices by status.", ("status",)),
    "queue_depth": ("Jobs waiting per queue.", ("queue",)),
    "queue_oldest_job_age_seconds": (
        "Age of the oldest waiting job per queue (0 when empty).",
        ("queue",),
    ),
    "ledger_flush_lag_seconds": (
        "Age of the oldest quota ledger entry not yet flushed to Postgres (0 when drained).",
        (),
    ),
    "ledger_pending_entries": ("Quota ledger entries not yet flushed to Postgres.", ()),
}


# Each series' child, looked up once (labels() takes a lock and checks its values every call):
# the label values are bounded, so are these caches.
@functools.cache
def _latency(route: str, method: str, status: int) -> Histogram:
    return HTTP_LATENCY.labels(route, method, str(status))


@functools.cache
def _decisions(operation: str, metric: Metric, outcome: str) -> Counter:
    return QUOTA_DECISIONS.labels(operation, metric.value, outcome)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    _latency(route, method, status).observe(seconds)


def count_quota(operation: str, decision: QuotaDecision) -> None:
    _decisions(operation, decision.metric, quota_outcome(decision)).inc()


def count_quota_unavailable(operation: str, metric: Metric) -> None:
    QUOTA_DECISIONS.labels(operation, metric.value, "unavailable").inc()


def quota_outcome(decision: QuotaDecision) -> str:
    if decision.duplicate:
        return "duplicate"
    if decision.capped:
        return "capped"
    if decision.degraded:
        return "degraded"
    return "allowed" if decision.allowed else "refused"


def count_usage(accepted: int, duplicates: int) -> None:
    USAGE_EVENTS.labels("accepted").inc(accepted)
    USAGE_EVENTS.labels("duplicate").inc(duplicates)


def count_invoicing(outcome: str) -> None:
    INVOICING_OUTCOMES.labels(outcome).inc()


def observe_stripe(operation: str, status: str, seconds: float) -> None:
    STRIPE_CALLS.labels(operation, status).observe(seconds)


def observe_database_read(purpose: str, database: str, reason: str) -> None:
    DATABASE_READS.labels(purpose, database, reason).inc()


class StateCollector(Collector):
    """The state families from a reader (see bootstrap.state_reader), plus
    `billing_metrics_source_up{source}`: 0 when a source failed or was late."""

    def __init__(self, reader: object) -> None:
        self.reader = reader

    def collect(self) -> Iterable[Family]:
        readings = self.reader.read()  # type: ignore[attr-defined]
        up = GaugeMetricFamily(
            "billing_metrics_source_up",
            "1 when the source answered this scrape in time, else 0 (its series are left out).",
            labels=("source",),
        )
        families = {
            name: GaugeMetricFamily("billing_" + name, doc, labels=labels)
            for name, (doc, labels) in STATE_FAMILIES.items()
        }
        for reading in readings:
            up.add_metric((reading.source,), 1.0 if reading.up else 0.0)
            for sample in reading.samples:
                _, labels = STATE_FAMILIES[sample.family]
                values = dict(sample.labels)
                families[sample.family].add_metric([values[name] for name in labels], sample.value)
        yield up
        yield from (family for family in families.values() if family.samples)


class _Own(Collector):
    """This process's samples (the in-process mode)."""

    def collect(self) -> Iterator[Family]:
        yield from REGISTRY.collect()


def exposition(state: Collector | None, multiproc_dir: Path | None) -> bytes:
    """One scrape: every worker's samples (multiprocess) or this process's, and the state."""
    registry = CollectorRegistry()
    if multiproc_dir is not None:
        multiprocess.MultiProcessCollector(registry, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
    else:
        registry.register(_Own())
    if state is not None:
        registry.register(state)
    return generate_latest(registry)


def clear_multiproc_dir(path: Path) -> None:
    """Samples of an earlier run are removed when gunicorn starts."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def mark_worker_dead(pid: int, path: Path) -> None:
    multiprocess.mark_process_dead(pid, path=str(path))  # type: ignore[no-untyped-call]
