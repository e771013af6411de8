"""The composition root: builds every adapter for web, worker and CLI alike.

Nothing is built at import time. Tests pass overrides (fakes for ports) by name.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import redis
from rq import Queue
from sqlalchemy import Engine, event

from adapters.clock import SystemClock
from adapters.db.analytics import SqlAnalytics
from adapters.db.engine import DatabaseProbe, make_engine
from adapters.db.replica import ReplicaRouter, WriteMarks
from adapters.db.repositories import SqlWebhookIntake
from adapters.db.uow import SqlUnitOfWorkFactory
from adapters.redis_client import (
    QuotaRedis,
    RedisProbe,
    connect_quota_redis,
    connect_redis,
    embedded_redis,
)
from adapters.redis_quota import RedisQuotaCounter
from adapters.rq_queue import RqJobQueue
from adapters.webhook_sender import HttpWebhookSender, SocketResolver
from domain.model.invoicing import UsagePrice
from domain.model.money import rate
from domain.model.plans import Catalog, default_catalog, parse_tier
from domain.model.prices import PriceBook
from domain.model.redirects import RedirectPolicy
from domain.ports import (
    Clock,
    HealthProbe,
    JobQueue,
    PaymentGateway,
    UnitOfWorkFactory,
    WebhookIntakeStore,
)
from domain.services.analytics import AnalyticsReader
from domain.services.invoicing import InvoicingDeps
from domain.services.payment_deps import PaymentDeps
from domain.services.quotas import QuotaDeps
from domain.services.reconciliation import ReconcileDeps
from domain.services.webhook_delivery import OutboundDeps, enqueue_deliveries
from domain.services.webhook_intake import UnitOfWorkIntake
from entrypoints.catalog_file import load_catalog
from entrypoints.config import Settings, load_settings
from entrypoints.worker import JOB_PATHS, JOB_QUEUES, JOB_TIMEOUTS
from entrypoints.worker.job_class import ContainerJob, bound_job_class

T = TypeVar("T")


@dataclass
class Container:
    settings: Settings
    uow: UnitOfWorkFactory
    clock: Clock
    catalog: Catalog
    redis: redis.Redis
    queues: dict[str, Queue]  # by urgency: urgent, webhooks, bulk
    jobs: JobQueue
    probes: dict[str, HealthProbe]
    jwt_secret: str | None
    payments: PaymentDeps
    intake_uow: UnitOfWorkFactory
    quota: QuotaDeps
    invoicing: InvoicingDeps
    analytics: AnalyticsReader | None
    outbound: OutboundDeps | None = None  # webhooks to the product (always set by bootstrap)
    engine: Engine | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    job_class: type[ContainerJob] = ContainerJob  # the class of this container's jobs
    reads: ReplicaRouter | None = None  # DATABASE_REPLICA_URL: where analytics and dashboards read
    intake: WebhookIntakeStore | None = None  # the webhook intake's write (intake_uow without)

    @property
    def queue(self) -> Queue:
        """The webhooks queue, the one the intake fills."""
        return self.queues["webhooks"]


def bootstrap(settings: Settings | None = None, **overrides: Any) -> Container:
    settings = settings or load_settings()

    def build(name: str, factory: Callable[[], T]) -> T:
        return overrides.pop(name) if name in overrides else factory()

    faked_uow = "uow" in overrides
    own_intake_uow = faked_uow or "intake_uow" in overrides
    engine = build("engine", lambda: None if faked_uow else _engine(settings))
    uow = build("uow", lambda: SqlUnitOfWorkFactory(_require(engine)))
    # The webhook intake writes one row: autocommit, one round trip (see SqlUnitOfWork).
    intake_uow = build(
        "intake_uow",
        lambda: uow if faked_uow else SqlUnitOfWorkFactory(_require(engine), single_statement=True),
    )
    intake: WebhookIntakeStore = build(
        "intake",
        lambda: (
            UnitOfWorkIntake(intake_uow)
            if own_intake_uow
            else SqlWebhookIntake(_intake_engine(settings, _require(engine)))
        ),
    )
    redis_client = build("redis", lambda: _redis(settings))
    # Jobs run (by workers, or inline on the embedded default) receive this container.
    job_class = bound_job_class()
    queues = build(
        "queues",
        lambda: {
            kind: Queue(
                name, connection=redis_client, is_async=not settings.embedded, job_class=job_class
            )
            for kind, name in settings.queue_names.items()
        },
    )
    quota_redis = build("quota_redis", lambda: _quota_redis(settings, redis_client))
    probes: dict[str, HealthProbe] = build(
        "probes", lambda: _probes(_require(engine), redis_client, quota_redis)
    )
    clock = build("clock", SystemClock)
    reads = build("reads", lambda: _replica_router(settings, engine, redis_client))
    quota_counter = build("quota_counter", lambda: RedisQuotaCounter(quota_redis))
    catalog = build("catalog", lambda: _catalog(settings))
    payments = PaymentDeps(
        uow=uow,
        clock=clock,
        catalog=catalog,
        gateway=build("gateway", lambda: _gateway(settings, redis_client)),
        prices=PriceBook(catalog, {parse_tier(t): p for t, p in settings.price_ids.items()}),
        redirects=RedirectPolicy(settings.redirect_origins),
        success_url=settings.stripe_success_url,
        cancel_url=settings.stripe_cancel_url,
        portal_return_url=settings.stripe_portal_return_url,
        counter=quota_counter,
        api_version=_pinned_api_version(settings),
        grace=settings.grace_period,
    )
    container = Container(
        settings=settings,
        uow=uow,
        clock=clock,
        catalog=catalog,
        redis=redis_client,
        queues=queues,
        jobs=build(
            "jobs",
            lambda: RqJobQueue(
                queues, JOB_PATHS, JOB_QUEUES, settings.retry_intervals, JOB_TIMEOUTS
            ),
        ),
        probes=probes,
        jwt_secret=build("jwt_secret", lambda: _jwt_secret(settings)),
        payments=payments,
        intake_uow=intake_uow,
        quota=QuotaDeps(
            uow,
            clock,
            catalog,
            quota_counter,
            settings.grace_period,
            settings.quota_fail_open,
            price=UsagePrice(rate(settings.usage_price_per_1000_words), settings.usage_currency),
        ),
        invoicing=InvoicingDeps(
            uow,
            clock,
            payments.gateway,
            UsagePrice(rate(settings.usage_price_per_1000_words), settings.usage_currency),
        ),
        analytics=build("analytics", lambda: SqlAnalytics(engine, reads) if engine else None),
        engine=engine,
        reads=reads,
        intake=intake,
    )
    container.outbound = _outbound(settings, container, overrides)
    container.extras.update(overrides)
    job_class.container = container
    container.job_class = job_class
    return container


def _outbound(settings: Settings, container: Container, overrides: dict[str, Any]) -> OutboundDeps:
    """Delivery of the outbox; every committed announcement is fanned out right away."""
    jobs = container.jobs
    uow = container.uow
    if getattr(uow, "after_commit", False) is None:  # a test's own dispatcher is kept
        uow.after_commit = lambda ids: enqueue_deliveries(jobs, ids)  # type: ignore[attr-defined]
    return OutboundDeps(
        uow=uow,
        clock=container.clock,
        jobs=jobs,
        sender=overrides.pop(
            "webhook_sender",
            None,
        )
        or HttpWebhookSender(settings.outbound_connect_timeout_s, settings.outbound_timeout_s),
        resolver=overrides.pop("resolver", None) or SocketResolver(),
        allow_private=settings.outbound_private_urls_allowed,
        lease=timedelta(seconds=settings.outbound_lease_s),
        unsent_after=timedelta(seconds=settings.outbound_unsent_after_s),
    )


def _catalog(settings: Settings) -> Catalog:
    if settings.billing_catalog_file is not None:
        return load_catalog(settings.billing_catalog_file, settings.billing_default_tier)
    return default_catalog(parse_tier(settings.billing_default_tier))


PACING_REDIS_TIMEOUT_S = 1.0


def _gateway(settings: Settings, redis_client: redis.Redis) -> PaymentGateway | None:
    """Stripe when a key is configured; without one, payment endpoints answer 503."""
    if not settings.stripe_secret_key:
        return None
    from adapters.metered_gateway import MeteredGateway
    from adapters.stripe_gateway import StripeGateway, make_stripe_client
    from entrypoints.metrics import observe_stripe

    stripe_gateway = StripeGateway(
        make_stripe_client(
            settings.stripe_secret_key,
            api_base=settings.stripe_api_base,
            timeout_s=settings.stripe_timeout_s,
            max_network_retries=settings.stripe_max_network_retries,
            pacing=stripe_pacing(settings, _pacing_redis(settings, redis_client)),
        )
    )
    return MeteredGateway(stripe_gateway, observe_stripe)


def _pacing_redis(settings: Settings, redis_client: redis.Redis) -> redis.Redis:
    """The schedule's own connection: a Stripe call may wait seconds for its slot anyway, so a
    slow Redis reply (up to 1 s) is waited for rather than sending the call unpaced."""
    if not settings.redis_url:
        return redis_client
    return connect_redis(settings.redis_url, timeout_s=PACING_REDIS_TIMEOUT_S)


def stripe_pacing(settings: Settings, redis_client: redis.Redis) -> Any:
    """One schedule of Stripe calls for every process on the RQ Redis (adapters.stripe_http);
    on the embedded default, one for this process."""
    from adapters.stripe_http import Pacing
    from adapters.stripe_pacing import LocalSlots, RedisSlots

    rate = settings.stripe_rate
    key = f"{settings.rq_queue}:stripe-pace"  # one schedule per deployment sharing a Redis
    slots = RedisSlots(redis_client, rate, key) if settings.redis_url else LocalSlots(rate)
    return Pacing(
        slots,
        max_wait_s=settings.stripe_rate_limit_max_wait_s,
        retries_429=settings.stripe_rate_limit_retries,
    )


def _pinned_api_version(settings: Settings) -> str | None:
    if not settings.stripe_secret_key:
        return None
    from adapters.stripe_gateway import API_VERSION

    return API_VERSION


def reconciliation(container: Container) -> ReconcileDeps:
    """What a reconciliation run needs, from the container's ports."""
    return ReconcileDeps(container.payments, container.jobs)


def _require(engine: Engine | None) -> Engine:
    if engine is None:
        raise RuntimeError("no database engine: pass one, or no `uow` override")
    return engine


def _engine(settings: Settings) -> Engine:
    if settings.database_url is None:
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    return make_engine(
        settings.sqlalchemy_url,
        pool_size=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
    )


def _replica_router(
    settings: Settings, engine: Engine | None, client: redis.Redis
) -> ReplicaRouter | None:
    """Only with a replica URL and a Postgres primary; without one every read is the primary's."""
    url = settings.database_replica_url
    if not url or engine is None or engine.dialect.name != "postgresql":
        return None
    from entrypoints.metrics import observe_database_read

    replica = make_engine(
        url,
        pool_size=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        connect_timeout_s=2,
    )
    lag = settings.database_replica_max_lag_s
    marks = WriteMarks(client, lag)
    return ReplicaRouter(engine, replica, marks, lag, observe=observe_database_read)


def _intake_engine(settings: Settings, engine: Engine) -> Engine:
    """On Postgres, the webhook intake's own pool: autocommit, no pre-ping (SqlWebhookIntake
    retries once on a broken connection), disposed with the service's engine."""
    if engine.dialect.name != "postgresql":
        return engine
    intake = make_engine(
        engine.url.render_as_string(hide_password=False),
        pool_size=settings.db_pool_size,
        statement_timeout_ms=settings.db_statement_timeout_ms,
        pre_ping=False,
        autocommit=True,
    )
    event.listen(engine, "engine_disposed", lambda _engine: intake.dispose())
    return intake


def _redis(settings: Settings) -> redis.Redis:
    if settings.redis_url is None:
        return embedded_redis()
    return request_redis(settings)


def _probes(engine: Engine, redis_client: redis.Redis, quota: QuotaRedis) -> dict[str, HealthProbe]:
    probes: dict[str, HealthProbe] = {
        "database": DatabaseProbe(engine),
        "redis": RedisProbe(redis_client),
    }
    if quota is not redis_client:
        probes["quota_redis"] = RedisProbe(quota)
    return probes


def _quota_redis(settings: Settings, redis_client: redis.Redis) -> QuotaRedis:
    """The quota counters' store: QUOTA_REDIS_URL when it names another Redis (a cluster,
    say), else the connection RQ uses."""
    url = settings.quota_redis_url
    if url is None or url == settings.redis_url:
        return redis_client
    return connect_quota_redis(url, timeout_s=settings.redis_timeout_ms / 1000)


def request_redis(settings: Settings) -> redis.Redis:
    """A connection whose calls fail fast (the request path's timeout)."""
    if settings.redis_url is None:
        raise RuntimeError("no REDIS_URL")
    return connect_redis(settings.redis_url, timeout_s=settings.redis_timeout_ms / 1000)


def _jwt_secret(settings: Settings) -> str | None:
    """The HS256 key; in development without one, a random key kept in the instance folder
    so that tokens minted by the CLI work against the running service."""
    if settings.jwt_secret_key or settings.jwt_public_key or settings.is_production:
        return settings.jwt_secret_key
    path = settings.instance_path / "jwt-secret"
    if not path.exists():
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


# What processes other than the web app build, built here too: only the composition root
# imports adapters (an import-linter contract).
def worker_redis(settings: Settings) -> redis.Redis:
    """A connection for RQ's blocking dequeue: it waits as long as it needs."""
    if settings.redis_url is None:
        raise RuntimeError("workers need REDIS_URL")
    return connect_redis(settings.redis_url, timeout_s=None)


def redis_probe(client: redis.Redis) -> HealthProbe:
    return RedisProbe(client)


def queue_report(container: Container) -> list[dict[str, Any]]:
    """Per queue: depth, the oldest waiting job's age, running, retrying and failed jobs."""
    from adapters.rq_queue import queue_report as report

    return report(container.queues, container.clock.now())


def state_reader(container: Container) -> Any:
    """What a metrics scrape reads of the state (adapters.state_readings.StateReader), built
    once per container; each source within METRICS_SOURCE_TIMEOUT_MS."""
    reader = container.extras.get("state_reader")
    if reader is None:
        from adapters.state_readings import StateReader, read_database, read_redis

        timeout_ms = container.settings.metrics_source_timeout_ms
        clock, engine, counter = container.clock, container.engine, container.quota.counter
        sources: dict[str, Callable[[], Any]] = {
            "redis": lambda: read_redis(
                container.redis,
                container.queues,
                clock.now(),
                counter if isinstance(counter, RedisQuotaCounter) else None,
            )
        }
        if engine is not None:
            sources["database"] = lambda: read_database(engine, clock.now(), timeout_ms)
        reader = StateReader(sources, timeout_ms / 1000)
        container.extras["state_reader"] = reader
    return reader


def create_usage_partitions(container: Container) -> list[str]:
    """The ledger's monthly partitions ahead (Postgres; nothing on the embedded default)."""
    from adapters.db.partitions import ensure_partitions_on

    if container.engine is None:
        return []
    return ensure_partitions_on(container.engine, container.clock.now())


def archive_usage(
    container: Container, keep_months: int, directory: Path, dry_run: bool
) -> list[Any]:
    """Archive the raw entries of invoiced months (adapters.db.retention.MonthOutcome)."""
    from adapters.db.retention import archive_months

    engine = _require(container.engine)
    return list(archive_months(engine, container.clock.now(), keep_months, directory, dry_run))
