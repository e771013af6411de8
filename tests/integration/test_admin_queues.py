"""Operators see each queue through RQ's registries: depth, oldest job age, failed jobs."""

from __future__ import annotations

from tests.helpers import bearer
from tests.integration.webhook_support import drain, make_stripe, post_event, webhook_app


def test_queue_report_per_queue(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings.model_copy(update={"job_retry_intervals_s": ""}), stripe)
    client = app.test_client()
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    broken = stripe.put_subscription("cus_2", stripe.price_ids["pro"], "active", org_id="org_b")
    stripe.broken.add(broken["id"])
    post_event(client, stripe.event("customer.subscription.updated", broken))
    drain(app.extensions["billing"])  # fails once, no retries configured: in the failed registry
    post_event(client, stripe.event("customer.subscription.updated", sub))

    assert client.get("/api/v1/admin/queues", headers=bearer("org_a", "owner")).status_code == 403
    response = client.get("/api/v1/admin/queues", headers=bearer("ops", "platform_admin"))
    assert response.status_code == 200
    queues = {q["kind"]: q for q in response.get_json()["queues"]}
    assert set(queues) == {"urgent", "webhooks", "bulk", "reconcile"}
    webhooks = queues["webhooks"]
    assert webhooks["name"] == "billing-webhooks" and webhooks["depth"] == 1
    assert webhooks["oldest_age_s"] is not None and 0 <= webhooks["oldest_age_s"] < 60
    assert webhooks["failed"] == 1
    assert "RuntimeError" in webhooks["recent_failures"][0]["error"][0]
    assert queues["bulk"]["depth"] == 0 and queues["bulk"]["oldest_age_s"] is None
    app.extensions["billing"].engine.dispose()
