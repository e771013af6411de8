"""Shared pieces of the webhook integration tests: an app on the real Postgres and Redis with a
fake Stripe, and an RQ worker that drains the queue."""

from __future__ import annotations

from typing import Any

import redis
from rq import SimpleWorker

from entrypoints.api.app import create_app
from entrypoints.bootstrap import Container
from tests.helpers import WEBHOOK_SECRET, signed
from tests.integration.conftest import REDIS_URL
from tests.stripe_fake import FakeStripe, catalog_prices


def make_stripe() -> FakeStripe:
    stripe = FakeStripe()
    stripe.price_ids = catalog_prices(stripe)  # type: ignore[attr-defined]
    return stripe


def webhook_app(
    settings: Any, stripe: FakeStripe, secret: str = WEBHOOK_SECRET, **overrides: Any
) -> Any:
    configured = settings.model_copy(
        update={"stripe_webhook_secret": secret, "job_retry_intervals_s": "0,0"}
    )
    return create_app(configured, gateway=stripe, **overrides)


# The webhooks to the product that applied events announce: run by `drain`, not counted.
OUTBOUND_JOBS = "entrypoints.worker.outbound_jobs."


class CountingWorker(SimpleWorker):
    """RQ's in-process worker, counting the job runs it finished (retries included), but for
    the outbound webhook jobs (counted apart in `outbound_runs`)."""

    runs = 0
    outbound_runs = 0

    def _count(self, job: Any) -> None:
        if str(job.func_name).startswith(OUTBOUND_JOBS):
            self.outbound_runs += 1
        else:
            self.runs += 1

    def handle_job_success(self, job: Any, *args: Any, **kwargs: Any) -> Any:
        self._count(job)
        return super().handle_job_success(job, *args, **kwargs)

    def handle_job_failure(self, job: Any, *args: Any, **kwargs: Any) -> Any:
        self._count(job)
        return super().handle_job_failure(job, *args, **kwargs)


def drain(container: Container) -> int:
    """Run an RQ worker (in this process) until the queue is empty; answer the job runs (the
    outbound webhook jobs the events caused run too, uncounted)."""
    connection = redis.Redis.from_url(REDIS_URL)
    worker = CountingWorker(
        list(container.settings.queue_names.values()),
        connection=connection,
        job_class=container.job_class,
    )
    worker.work(burst=True)
    connection.close()
    return worker.runs


def post_event(client: Any, body: bytes, **sign: Any) -> Any:
    return client.post("/api/v1/billing/webhook", data=body, headers=signed(body, **sign))
