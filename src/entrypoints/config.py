"""Settings: the only reader of the environment (and of an optional `.env` file).

pydantic-settings parses and validates every variable once, at startup, with clear messages.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

STRIPE_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")


class ConfigError(RuntimeError):
    """The configuration cannot run the service; the message names what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    app_env: Literal["development", "test", "production"] = "development"
    instance_path: Path = Field(default_factory=lambda: Path.cwd() / "instance")
    database_url: str | None = None
    # A streaming replica of DATABASE_URL for analytics and dashboard reads (adapters/db/replica).
    database_replica_url: str | None = None
    database_replica_max_lag_s: float = Field(default=10.0, ge=0)  # the oldest a replica read is
    redis_url: str | None = None
    # Quota counters, the ledger's streams and rate limits: a single Redis (redis://) or a
    # Redis Cluster (redis+cluster://host:port[,host:port]); RQ stays on REDIS_URL.
    quota_redis_url: str | None = None
    db_pool_size: int = 5
    db_statement_timeout_ms: int = 10_000
    redis_timeout_ms: int = 50
    rq_queue: str = "billing"  # the prefix of the three queues (see `queue_names`)
    # Threads of the webhooks worker: a refetch waits on Stripe, so events are applied side by side.
    webhook_concurrency: int = 8
    webhook_sweep_interval_s: int = 60
    webhook_stale_after_s: int = 60  # a pending event never tried this long is enqueued again
    webhook_retry_stale_after_s: int = 900  # ... or one whose retry was lost
    # The ledger's durability window: consumption acknowledged but not yet in Postgres.
    ledger_flush_interval_s: int = 5
    reconcile_interval_s: int = 86_400  # the scheduled reconciliation run (with repairs)
    scheduler_poll_s: float = 1.0
    # Workers and the scheduler wait out an outage, retrying at most this far apart.
    reconnect_max_wait_s: float = 30.0

    jwt_secret_key: str | None = None
    jwt_public_key: str | None = None  # PEM; switches verification to RS256
    jwt_private_key: str | None = None  # PEM; lets the CLI mint RS256 tokens in development
    jwt_leeway_s: int = 0

    stripe_secret_key: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_SECRET_KEY", "STRIPE_API_KEY")
    )
    stripe_public_key: str | None = None
    # Several secrets, comma-separated, are accepted while an endpoint's secret is rotated.
    stripe_webhook_secret: str | None = None
    # Only honoured with APP_ENV=development (e.g. for a local stripe-cli without its secret).
    stripe_webhook_verify: bool = True
    job_retry_intervals_s: str = "10,60,300"
    stripe_api_base: str | None = None  # stripe-mock or a proxy
    stripe_timeout_s: float = 20.0
    stripe_max_network_retries: int = 2
    # Stripe's rate limit, shared by every process through REDIS_URL (in-process without it):
    # operations/s, by default Stripe's 100 for live keys and 25 for test keys. A call waits
    # at most STRIPE_RATE_LIMIT_MAX_WAIT_S for its slot and Retry-Afters together, and a 429
    # is sent again (same idempotency key) up to STRIPE_RATE_LIMIT_RETRIES times.
    stripe_rate_limit: float | None = Field(default=None, gt=0)
    stripe_rate_limit_max_wait_s: float = Field(default=5.0, ge=0)
    stripe_rate_limit_retries: int = Field(default=3, ge=0)
    stripe_success_url: str | None = None
    stripe_cancel_url: str | None = None
    stripe_portal_return_url: str | None = None
    allowed_redirect_origins: str | None = None  # comma-separated scheme://host[:port]
    billing_default_tier: str = "free"
    billing_catalog_file: Path | None = None  # an operator's own plans (entrypoints/catalog_file)
    stripe_starter_price_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_STARTER_PRICE_ID", "STRIPE_PRICE_BASIC_SUB"),
    )
    stripe_pro_price_id: str | None = Field(
        default=None, validation_alias=AliasChoices("STRIPE_PRO_PRICE_ID", "STRIPE_PRICE_PRO_SUB")
    )
    stripe_enterprise_price_id: str | None = None
    stripe_white_label_price_id: str | None = None

    usage_price_per_1000_words: str = "1.00"  # a decimal string: Decimal, never float
    usage_currency: str = "usd"
    quota_fail_open: bool = False  # Redis down: allow (true) or answer 503 (false)
    rate_limit_enabled: bool = True
    # Per IP: every route but the webhook, health and metering.
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_org: str = "600/minute"  # authenticated calls of one organization
    rate_limit_sensitive: str = "20/minute"  # checkout, portal, customer and plan changes
    # Quota consume/release and usage events: none by default, since the quota itself limits
    # them and their check must stay one Redis round trip; set e.g. "60000/minute" to add one.
    rate_limit_metered: str = ""
    # Proxies in front of the service whose X-Forwarded-For/-Proto/-Host to trust (ProxyFix).
    trusted_proxies: int = 0
    max_content_length: int = 1_048_576
    billing_grace_days: int = 7
    log_level: str = "INFO"

    # Webhooks to the product (Standard Webhooks): the sweep that sends retries when due and
    # what a lost job or a stopped worker left; the lease an attempt holds (longer than the
    # whole HTTP call); a message committed this long ago and never fanned out is swept.
    outbound_sweep_interval_s: int = 5
    outbound_lease_s: int = 60
    outbound_unsent_after_s: int = 30
    outbound_connect_timeout_s: float = 3.0
    outbound_timeout_s: float = 10.0

    # /metrics: who may scrape without a platform_admin token (comma-separated IPs or CIDRs),
    # where gunicorn's workers keep their samples (prometheus-client's multiprocess mode), and
    # how long a scrape waits for each state source (Postgres, Redis).
    metrics_allowed_ips: str = ""
    prometheus_multiproc_dir: Path | None = None
    metrics_source_timeout_ms: int = 2_000

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _normalize_database_url(cls, url: str | None) -> str | None:
        """Heroku-style postgres:// URLs are accepted and mapped to the psycopg 3 driver."""
        if not url:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @field_validator("metrics_allowed_ips")
    @classmethod
    def _check_metrics_ips(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or CIDR: {part!r}") from None
        return value

    @field_validator("billing_default_tier")
    @classmethod
    def _check_default_tier(cls, tier: str) -> str:
        from domain.errors import UnknownPlan
        from domain.model.plans import parse_tier

        try:
            return parse_tier(tier).value
        except UnknownPlan as exc:
            raise ValueError(exc.message) from None

    @field_validator("usage_price_per_1000_words")
    @classmethod
    def _check_usage_price(cls, value: str) -> str:
        from decimal import Decimal, InvalidOperation

        try:
            price = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
        if not price.is_finite() or price < 0:
            raise ValueError("must be a non-negative decimal such as 1.00")
        return value

    @field_validator("usage_currency")
    @classmethod
    def _check_usage_currency(cls, value: str) -> str:
        from domain.errors import UnsupportedCurrency
        from domain.model.charge_limits import check_currency

        try:
            return check_currency(value.strip().lower())
        except UnsupportedCurrency as exc:
            raise ValueError(exc.message) from None

    @field_validator("stripe_secret_key")
    @classmethod
    def _check_stripe_key(cls, key: str | None) -> str | None:
        if not key:
            return None
        if not key.startswith(STRIPE_KEY_PREFIXES):
            raise ValueError(
                "STRIPE_SECRET_KEY must be a Stripe secret or restricted key "
                f"starting with one of {', '.join(STRIPE_KEY_PREFIXES)} "
                "(a publishable pk_ key or another value will not work)"
            )
        return key

    @property
    def redirect_origins(self) -> list[str]:
        """Configured origins, or else the origins of the configured return URLs."""
        if self.allowed_redirect_origins:
            return [o.strip() for o in self.allowed_redirect_origins.split(",") if o.strip()]
        urls = (self.stripe_success_url, self.stripe_cancel_url, self.stripe_portal_return_url)
        origins = []
        for url in filter(None, urls):
            scheme, _, rest = url.partition("://")
            origins.append(f"{scheme}://{rest.split('/', 1)[0]}")
        return origins

    @property
    def price_ids(self) -> dict[str, str]:
        configured = {
            "starter": self.stripe_starter_price_id,
            "pro": self.stripe_pro_price_id,
            "enterprise": self.stripe_enterprise_price_id,
            "white_label": self.stripe_white_label_price_id,
        }
        return {tier: price for tier, price in configured.items() if price}

    @property
    def stripe_rate(self) -> float:
        """Operations/s allowed at Stripe: the configured limit, or the key's mode default."""
        if self.stripe_rate_limit is not None:
            return self.stripe_rate_limit
        live = (self.stripe_secret_key or "").startswith(("sk_live_", "rk_live_"))
        return 100.0 if live else 25.0

    @property
    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        parts = (p.strip() for p in self.metrics_allowed_ips.split(","))
        return [ipaddress.ip_network(part, strict=False) for part in parts if part]

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def embedded(self) -> bool:
        """No Redis configured: an in-process stand-in, with jobs run inline."""
        return not self.redis_url

    @property
    def quota_store_url(self) -> str | None:
        """Where quota counters and rate limits live: QUOTA_REDIS_URL, else REDIS_URL."""
        return self.quota_redis_url or self.redis_url

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.instance_path / 'billing.sqlite3'}"

    @property
    def jwt_algorithm(self) -> str:
        return "RS256" if self.jwt_public_key else "HS256"

    @property
    def webhook_secrets(self) -> list[str]:
        raw = self.stripe_webhook_secret or ""
        return [part.strip() for part in raw.split(",") if part.strip()]

    @property
    def retry_intervals(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.job_retry_intervals_s.split(",") if part.strip())

    @property
    def queue_names(self) -> dict[str, str]:
        """Queues by urgency: the ledger flush and the sweep never wait behind a webhook, and
        neither ever waits behind bulk work (invoicing fan-out, dunning), nor behind
        reconciliation, which has a queue of its own."""
        return {
            kind: f"{self.rq_queue}-{kind}" for kind in ("urgent", "webhooks", "bulk", "reconcile")
        }

    @property
    def verify_webhooks(self) -> bool:
        """Verification is off only when asked for in development; never elsewhere."""
        return self.stripe_webhook_verify or self.app_env != "development"

    @property
    def outbound_private_urls_allowed(self) -> bool:
        """http and local receivers (a developer's machine) only in development."""
        return self.app_env == "development"

    @property
    def grace_period(self) -> timedelta:
        return timedelta(days=self.billing_grace_days)

    def check(self) -> None:
        """Refuse to run production on defaults; name every missing setting at once."""
        if self.database_replica_url and not (self.database_url or "").startswith("postgresql"):
            raise ConfigError("DATABASE_REPLICA_URL needs DATABASE_URL to be a PostgreSQL URL")
        if self.database_replica_url and not self.database_replica_url.startswith("postgresql"):
            raise ConfigError("DATABASE_REPLICA_URL must be a PostgreSQL URL")
        if not self.is_production:
            return
        missing = []
        if not (self.jwt_secret_key or self.jwt_public_key):
            missing.append("JWT_SECRET_KEY (or JWT_PUBLIC_KEY for RS256)")
        if not self.database_url or not self.database_url.startswith("postgresql"):
            missing.append("DATABASE_URL (a PostgreSQL URL)")
        if not self.redis_url:
            missing.append("REDIS_URL")
        if not self.webhook_secrets:
            missing.append("STRIPE_WEBHOOK_SECRET")
        if missing:
            raise ConfigError("APP_ENV=production refuses to start without: " + ", ".join(missing))


def debug_requested() -> bool:
    """LOG_LEVEL=DEBUG asks for tracebacks of startup errors (read before settings parse,
    since parsing is what may fail)."""
    return os.environ.get("LOG_LEVEL", "").strip().upper() == "DEBUG"


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    settings.check()
    return settings
