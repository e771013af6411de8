"""A worker process for the SIGKILL test: an RQ SimpleWorker whose Stripe is slow, so it can be
killed while it handles an event. Configured from the environment like the real worker."""

from __future__ import annotations

import json
import os
import sys

from rq import SimpleWorker

from adapters.redis_client import connect_redis
from entrypoints.bootstrap import bootstrap
from entrypoints.config import load_settings
from tests.stripe_fake import FakeStripe, catalog_prices


def main() -> None:
    stripe = FakeStripe()
    catalog_prices(stripe)
    subscription = json.loads(os.environ["FAKE_STRIPE_SUBSCRIPTION"])
    stripe.subscriptions[subscription["id"]] = subscription
    stripe.retrieve_delay_s = 60.0
    settings = load_settings()
    container = bootstrap(settings, gateway=stripe)
    connection = connect_redis(settings.redis_url or "", timeout_s=None)
    SimpleWorker(
        [settings.queue_names["webhooks"]], connection=connection, job_class=container.job_class
    ).work(burst=True)


if __name__ == "__main__":
    sys.exit(main())
