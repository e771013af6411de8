"""Pieces of the outbound webhook tests: an app in development mode (so it may post to a
local receiver) on Postgres or the embedded SQLite, with real Redis and RQ."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from domain.services.announce import announce
from entrypoints import migrate
from entrypoints.worker.outbound_jobs import sweep_outbound_webhooks
from tests.helpers import bearer
from tests.integration.webhook_support import drain, make_stripe, webhook_app


def outbound_app(settings: Any, tmp_path: Any, backend: str, **overrides: Any) -> Any:
    update: dict[str, Any] = {
        "app_env": "development",
        "outbound_lease_s": 2,
        "rate_limit_enabled": False,
        # What is delivered, not how fast: a loaded machine may hold a Redis reply past the
        # request path's 50 ms, and an enqueue would then fail (the sweep's retry covers it).
        "redis_timeout_ms": 5000,
    }
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'outbound.db'}"
        migrate.upgrade(url)
        update["database_url"] = url
    return webhook_app(settings.model_copy(update=update), make_stripe(), **overrides)


def engine_of(app: Any) -> Engine:
    engine: Engine = app.extensions["billing"].engine
    return engine


def register(app: Any, url: str, org: str = "org_a", **body: Any) -> dict[str, Any]:
    response = app.test_client().post(
        "/api/v1/webhook-endpoints", json={"url": url, **body}, headers=bearer(org)
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    shown: dict[str, Any] = response.get_json()
    return shown


def say(app: Any, org: str = "org_a", event_type: str = "invoice.paid", **data: Any) -> str:
    """Announce in a transaction of its own, as a producer does; answer the message id."""
    container = app.extensions["billing"]
    with container.uow() as uow:
        announce(uow, org_id=org, event_type=event_type, data=data, now=container.clock.now())
        uow.commit()
    with container.uow() as uow:
        return str(uow.outbox.since(org, container.clock.now().replace(year=2000), 1000)[-1].id)


def make_due(app: Any) -> None:
    """Drive the schedule forward: every pending delivery due now."""
    with engine_of(app).begin() as conn:
        conn.execute(
            text("UPDATE webhook_deliveries SET next_attempt_at = :now WHERE status = 'pending'"),
            {"now": app.extensions["billing"].clock.now()},
        )


def sweep_and_drain(app: Any) -> dict[str, int]:
    """Run the sweep, then every job it enqueued; answer what the sweep found."""
    container = app.extensions["billing"]
    found = sweep_outbound_webhooks(container)
    drain(container)
    return found


def deliveries(app: Any) -> list[Any]:
    with engine_of(app).connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT id, message_id, status, attempts, last_status_code "
                    "FROM webhook_deliveries ORDER BY created_at, id"
                )
            )
        )


def attempts(app: Any, delivery_id: str) -> list[Any]:
    with engine_of(app).connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT number, status_code, error, attempted_at FROM webhook_attempts "
                    "WHERE delivery_id = :id ORDER BY number"
                ),
                {"id": delivery_id},
            )
        )
