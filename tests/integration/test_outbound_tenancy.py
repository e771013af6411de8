"""Another organization's webhook endpoints and deliveries answer 404 exactly like missing
ones, change nothing, and its messages never reach them."""

from __future__ import annotations

import logging

from sqlalchemy import text

from tests.helpers import bearer
from tests.integration.outbound_support import (
    deliveries,
    engine_of,
    outbound_app,
    register,
    say,
)
from tests.integration.webhook_receiver import Receiver
from tests.integration.webhook_support import drain

BASE = "/api/v1/webhook-endpoints"


def test_organization_b_cannot_see_or_touch_organization_as_endpoints(
    settings, clean_db, clean_redis, tmp_path, caplog
):
    receiver = Receiver().start()
    app = outbound_app(settings, tmp_path, "postgres")
    try:
        endpoint = register(app, receiver.url, org="org_alpha")
        receiver.secret = endpoint["secret"]
        say(app, org="org_alpha", amount_minor=1)
        drain(app.extensions["billing"])
        (before,) = deliveries(app)
        assert before.status == "delivered"
        register(app, "http://127.0.0.1:9/other", org="org_bravo")
        say(app, org="org_bravo", amount_minor=2)  # B's message goes to B's endpoint only
        drain(app.extensions["billing"])
        assert len(receiver.received) == 1

        client = app.test_client()
        bravo = bearer("org_bravo")
        since = {"since": "2000-01-01T00:00:00Z"}
        caplog.set_level(logging.WARNING, logger="billing.security")

        def walk(target: str) -> list[tuple[int, str]]:
            answers = [
                client.get(f"{BASE}/{target}", headers=bravo),
                client.delete(f"{BASE}/{target}", headers=bravo),
                client.post(f"{BASE}/{target}/rotate-secret", headers=bravo),
                client.get(f"{BASE}/{target}/deliveries", headers=bravo),
                client.post(f"{BASE}/{target}/replay", json=since, headers=bravo),
            ]
            return [(r.status_code, r.get_json()["code"]) for r in answers]

        assert walk(endpoint["id"]) == walk("we_missing") == [(404, "not_found")] * 5
        listed = client.get(BASE, headers=bravo).get_json()["endpoints"]
        assert endpoint["id"] not in {e["id"] for e in listed}
        crossings = [
            r for r in caplog.records if getattr(r, "security_event", "") == "cross_tenant"
        ]
        assert len(crossings) == 5  # the foreign id is logged; the missing one is not

        with engine_of(app).connect() as conn:
            row = conn.execute(
                text(
                    "SELECT secret, previous_secret, enabled FROM webhook_endpoints WHERE id = :id"
                ),
                {"id": endpoint["id"]},
            ).one()
        assert (row.secret, row.previous_secret, row.enabled) == (endpoint["secret"], None, True)
        alpha = client.get(f"{BASE}/{endpoint['id']}/deliveries", headers=bearer("org_alpha"))
        assert [d["id"] for d in alpha.get_json()["deliveries"]] == [before.id]
    finally:
        receiver.stop()
        engine_of(app).dispose()
