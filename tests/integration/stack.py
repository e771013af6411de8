"""The whole service as the Procfile runs it (web, worker, bulk-worker, scheduler) on a fresh
database, a Redis of its own and a Stripe stand-in; helpers to deliver events and read back."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, make_url, text

from entrypoints import migrate
from tests.helpers import TEST_JWT_SECRET, WEBHOOK_SECRET, bearer, signed
from tests.integration.conftest import create_database, drop_database
from tests.integration.procfile import (
    Processes,
    RedisServer,
    StripeStandIn,
    TcpProxy,
    post,
    wait_for,
)
from tests.integration.webhook_support import make_stripe

WEB_PORT, REDIS_PORT, STRIPE_PORT, PG_PROXY_PORT = 17800, 17379, 17480, 17432
SWEEP_S = 4  # the sweep interval the outage tests run with (60 s in production)


@dataclass
class Stack:
    processes: Processes
    redis: RedisServer
    stripe: Any
    stand_in: StripeStandIn
    proxy: TcpProxy
    engine: Engine

    def deliver(self, body: bytes) -> int:
        return post(WEB_PORT, "/api/v1/billing/webhook", body, signed(body))

    def consume(self, org_id: str, amount: int = 1, key: str | None = None) -> int:
        body = {"metric": "queries", "amount": amount, **({"idempotency_key": key} if key else {})}
        return post(
            WEB_PORT,
            "/api/v1/quota/consume",
            json.dumps(body).encode(),
            {**bearer(org_id, "service"), "Content-Type": "application/json"},
        )

    def _ledger_table(self) -> tuple[str, str]:
        """Consumed units in Postgres: the consumption ledger table, or the one usage ledger
        (consumptions are its rows with a counter entry id)."""
        if self.scalar("SELECT to_regclass('quota_ledger') IS NOT NULL"):
            return "quota_ledger", "amount"
        return "usage_events", "quantity"

    def ledger(self, org_id: str) -> int:
        table, amount = self._ledger_table()
        return int(
            self.scalar(
                f"SELECT coalesce(sum({amount}), 0) FROM {table} WHERE "
                "org_id = :org AND metric = 'queries'",
                org=org_id,
            )
        )

    def ledger_rows(self) -> int:
        table, _ = self._ledger_table()
        return int(self.scalar(f"SELECT count(*) FROM {table} WHERE metric = 'queries'"))

    def in_ledger(self, key: str) -> bool:
        table, _ = self._ledger_table()
        return bool(self.scalar(f"SELECT count(*) FROM {table} WHERE idempotency_key = :k", k=key))

    def subscriptions_match_stripe(self) -> bool:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT stripe_subscription_id, status, stripe_price_id FROM subscriptions")
            ).all()
        return len(rows) == len(self.stripe.subscriptions) and all(
            (status, price)
            == (
                self.stripe.subscriptions[sid]["status"],
                self.stripe.subscriptions[sid]["items"]["data"][0]["price"]["id"],
            )
            for sid, status, price in rows
        )

    def statuses(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(text("SELECT id, status FROM webhook_events")).all())

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()

    def all_processed(self, count: int) -> bool:
        found = self.statuses()
        return len(found) == count and set(found.values()) == {"processed"}


def _env(url: str, stripe: Any, extra: dict[str, str]) -> dict[str, str]:
    prices = stripe.price_ids
    return {
        "APP_ENV": "test",
        "DATABASE_URL": url,
        "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_SECRET_KEY": "sk_test_standin",
        "STRIPE_API_BASE": f"http://127.0.0.1:{STRIPE_PORT}",
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "STRIPE_TIMEOUT_S": "10",
        "STRIPE_STARTER_PRICE_ID": prices["starter"],
        "STRIPE_PRO_PRICE_ID": prices["pro"],
        "STRIPE_ENTERPRISE_PRICE_ID": prices["enterprise"],
        "PORT": str(WEB_PORT),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_SWEEP_INTERVAL_S": str(SWEEP_S),
        "WEBHOOK_STALE_AFTER_S": "1",
        "WEBHOOK_RETRY_STALE_AFTER_S": "5",
        "LEDGER_FLUSH_INTERVAL_S": "1",
        "RECONNECT_MAX_WAIT_S": "1",
        "JOB_RETRY_INTERVALS_S": "2,5,10",
        "RATE_LIMIT_ENABLED": "false",
        **extra,
    }


@contextlib.contextmanager
def running_stack(
    logs: Path,
    *,
    through_proxy: bool = False,
    stripe_delay_s: float = 0.0,
    extra_env: dict[str, str] | None = None,
    redis_aof: bool = False,
    names: tuple[str, ...] = ("web", "worker", "bulk-worker", "scheduler"),
) -> Iterator[Stack]:
    url = create_database("billing_stack")
    stripe = make_stripe()
    redis_server = RedisServer(REDIS_PORT, aof=redis_aof)
    stand_in = StripeStandIn(stripe, STRIPE_PORT, stripe_delay_s)
    target = make_url(url)
    proxy = TcpProxy(PG_PROXY_PORT, (target.host or "127.0.0.1", target.port or 5432))
    service_url = (
        target.set(host="127.0.0.1", port=PG_PROXY_PORT).render_as_string(hide_password=False)
        if through_proxy
        else url
    )
    processes = Processes(_env(service_url, stripe, extra_env or {}), logs)
    engine = create_engine(url)
    try:
        migrate.upgrade(url)
        redis_server.start()
        stand_in.start()
        proxy.start()
        for name in names:
            processes.start(name)
        stack = Stack(processes, redis_server, stripe, stand_in, proxy, engine)
        wait_for(lambda: post(WEB_PORT, "/healthz", b"", {}) in (200, 405), 60, "the web process")
        yield stack
    finally:
        processes.stop()
        proxy.stop()
        stand_in.stop()
        redis_server.cleanup()
        engine.dispose()
        drop_database(url)
