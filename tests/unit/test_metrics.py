"""/metrics through the Flask test client: counters move by exactly what known requests did,
label values stay bounded, and only listed addresses or platform_admin tokens may scrape."""

from __future__ import annotations

import threading

import pytest

from tests.helpers import bearer
from tests.metrics_support import label_values, value
from tests.unit.test_http_errors import assert_error

CONSUME = "/api/v1/quota/consume"
EVENTS = "/api/v1/usage/events"


@pytest.fixture
def settings(settings):
    """The test client's requests come from 127.0.0.1."""
    return settings.model_copy(update={"metrics_allowed_ips": "10.0.0.0/8, 127.0.0.1"})


def scrape(client, **headers) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def test_request_latency_is_counted_per_route_rule(client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    for org in ("org_a", "org_b"):  # two raw paths, one URL rule
        client.get(f"/api/v1/quota/{org}-nothing-here")
    after = scrape(client)
    count = "billing_http_request_duration_seconds_count"
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    assert value(after, count, **labels) - value(before, count, **labels) == 3
    routes = label_values(after, count, "route")
    assert "<unmatched>" in routes
    assert not any("nothing-here" in route for route in routes)
    unmatched = {"route": "<unmatched>", "method": "GET", "status": "404"}
    assert value(after, count, **unmatched) - value(before, count, **unmatched) == 2


def test_quota_decisions_are_counted_by_outcome(client):
    before = scrape(client)
    service = bearer("org_m", "service")
    for key in ("k1", "k2", "k1"):  # the second k1 is answered, not counted again
        body = {"metric": "queries", "amount": 1, "idempotency_key": key}
        assert client.post(CONSUME, json=body, headers=service).status_code == 200
    over = client.post(CONSUME, json={"metric": "queries", "amount": 1000}, headers=service)
    assert over.status_code == 429
    after = scrape(client)
    name = "billing_quota_decisions_total"

    def moved(outcome: str) -> float:
        labels = {"operation": "consume", "metric": "queries", "outcome": outcome}
        return value(after, name, **labels) - value(before, name, **labels)

    assert (moved("allowed"), moved("duplicate"), moved("refused")) == (2, 1, 1)
    assert label_values(after, name, "outcome") <= {
        "allowed",
        "duplicate",
        "refused",
        "capped",
        "degraded",
        "unavailable",  # another test's unreachable counter, in the same registry
    }


def test_an_unreachable_counter_is_counted_unavailable(client, ports):
    name = "billing_quota_decisions_total"
    labels = {"operation": "consume", "metric": "queries", "outcome": "unavailable"}
    before = scrape(client)
    ports["quota_counter"].down = True
    try:
        response = client.post(
            CONSUME, json={"metric": "queries", "amount": 1}, headers=bearer("org_d", "service")
        )
    finally:
        ports["quota_counter"].down = False
    assert_error(response, 503, "quota_unavailable")
    after = scrape(client)
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_a_request_another_hook_refuses_is_timed_too(client):
    count = "billing_http_request_duration_seconds_count"
    labels = {"route": EVENTS, "method": "POST", "status": "413"}
    before = scrape(client)
    oversize = b"{" + b" " * (64 * 1024 + 1) + b"}"
    response = client.post(
        EVENTS, data=oversize, content_type="application/json", headers=bearer("org_u", "service")
    )
    assert response.status_code == 413
    after = scrape(client)
    assert value(after, count, **labels) - value(before, count, **labels) == 1


def test_usage_events_are_counted_accepted_and_duplicate(client):
    before = scrape(client)
    events = [
        {"metric": "stt_words", "quantity": 10, "idempotency_key": "u1"},
        {"metric": "stt_words", "quantity": 20, "idempotency_key": "u2"},
    ]
    service = bearer("org_u", "service")
    first = client.post(EVENTS, json={"events": events}, headers=service)
    assert first.get_json() == {"accepted": 2, "duplicates": 0}
    again = client.post(EVENTS, json={"events": events[:1]}, headers=service)
    assert again.get_json() == {"accepted": 0, "duplicates": 1}
    after = scrape(client)
    name = "billing_usage_events_total"
    accepted = value(after, name, outcome="accepted") - value(before, name, outcome="accepted")
    duplicate = value(after, name, outcome="duplicate") - value(before, name, outcome="duplicate")
    assert (accepted, duplicate) == (2, 1)


def test_state_is_read_at_scrape_time(client, app):
    text = scrape(client)
    assert value(text, "billing_metrics_source_up", source="redis") == 1
    queues = set(app.extensions["billing"].queues)
    assert label_values(text, "billing_queue_depth", "queue") == queues
    assert label_values(text, "billing_queue_oldest_job_age_seconds", "queue") == queues
    assert "billing_ledger_flush_lag_seconds" in text


def test_a_source_that_fails_or_hangs_is_down_and_its_series_left_out(client, app):
    from entrypoints.bootstrap import state_reader

    release = threading.Event()
    reader = state_reader(app.extensions["billing"])

    def hangs():
        release.wait(10)
        return []

    def fails():
        raise ConnectionError("down")

    original = dict(reader.sources)
    reader.sources = {"redis": fails, "database": hangs}
    reader.deadline_s = 0.2
    try:
        text = scrape(client)
    finally:
        release.set()
        reader.sources = original
    assert value(text, "billing_metrics_source_up", source="redis") == 0
    assert value(text, "billing_metrics_source_up", source="database") == 0
    assert "billing_queue_depth" not in text
    assert "billing_ledger_flush_lag_seconds" not in text


def test_a_member_token_from_an_unlisted_address_is_refused(client):
    response = client.get(
        "/metrics", headers=bearer("org_a", "member"), environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert_error(response, 403, "forbidden_role")


def test_an_unlisted_address_without_a_token_is_refused(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert_error(response, 403, "metrics_forbidden")


def test_a_bad_token_from_an_unlisted_address_is_unauthorized(client):
    response = client.get(
        "/metrics",
        headers={"Authorization": "Bearer not-a-jwt"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert_error(response, 401, "token_invalid")


def test_a_platform_admin_token_may_scrape_from_anywhere(client):
    response = client.get(
        "/metrics",
        headers=bearer("org_ops", "platform_admin"),
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 200
    assert "billing_metrics_source_up" in response.get_data(as_text=True)


def test_a_listed_network_may_scrape(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 200
