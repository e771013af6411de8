"""Usage ingestion and summaries through the HTTP layer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import bearer
from tests.unit.test_http_errors import assert_error

EVENTS = "/api/v1/usage/events"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"max_content_length": 1_048_576})  # the default


def event(key: str, quantity=10, metric="stt_words", **extra):
    return {"metric": metric, "quantity": quantity, "idempotency_key": key, **extra}


def post(client, body, role="service", org="org_a"):
    return client.post(EVENTS, json=body, headers=bearer(org, role))


def test_a_batch_is_stored_once_per_key(client, ports):
    body = {"events": [event("a"), event("b"), event("a"), event("c", metric="tts_words")]}
    assert post(client, body).get_json() == {"accepted": 3, "duplicates": 1}
    assert post(client, body).get_json() == {"accepted": 0, "duplicates": 4}
    stored = ports["uow"].store.usage_events
    assert len(stored) == 3 and all(e.org_id == "org_a" for e in stored)


def test_the_older_single_event_body_is_a_batch_of_one(client, ports):
    response = post(client, event("single", conversation_id="c-17"))
    assert response.get_json() == {"accepted": 1, "duplicates": 0}
    assert ports["uow"].store.usage_events[0].conversation_id == "c-17"


def test_keys_are_per_organization(client, ports):
    post(client, {"events": [event("k")]}, org="org_a")
    assert post(client, {"events": [event("k")]}, org="org_b").get_json()["accepted"] == 1


BAD = [
    ("quantity", -1),
    ("quantity", 1.5),
    ("quantity", "10"),
    ("quantity", 2**53),
    ("quantity", True),
    ("quantity", None),
    ("metric", "gpu_seconds"),
    ("metric", None),
    ("idempotency_key", ""),
    ("idempotency_key", "x" * 256),
    ("occurred_at", "yesterday"),
    ("occurred_at", "2026-11-15T12:00:00"),  # no timezone
    ("conversation_id", ""),
    ("org_id", "org_b"),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_one_bad_event_refuses_the_batch_naming_index_and_field(client, ports, field, value):
    bad = event("bad")
    bad[field] = value
    body = {"events": [event("ok-1"), event("ok-2"), bad]}
    error = assert_error(post(client, body), 422, "validation_error")
    assert field in error["errors"]["json"]["events"]["2"]
    assert ports["uow"].store.usage_events == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"events": [{"metric": "stt_words", "quantity": NaN, "idempotency_key": "n"}]}',
        b'{"events": [{"metric": "stt_words", "quantity": Infinity, "idempotency_key": "n"}]}',
    ],
)
def test_nan_and_infinity_are_refused(client, ports, raw):
    response = client.post(
        EVENTS, data=raw, content_type="application/json", headers=bearer("org_a", "service")
    )
    assert response.status_code in (400, 422)
    assert ports["uow"].store.usage_events == []


def test_timestamps_more_than_five_minutes_ahead_are_refused(client, ports):
    now = ports["clock"].now()
    ahead = (now + timedelta(minutes=5, seconds=1)).isoformat()
    close = (now + timedelta(minutes=4)).isoformat()
    error = assert_error(
        post(client, {"events": [event("a", occurred_at=close), event("b", occurred_at=ahead)]}),
        422,
        "validation_error",
    )
    assert "occurred_at" in error["errors"]["json"]["events"]["1"]
    assert ports["uow"].store.usage_events == []


def test_batch_sizes(client):
    assert_error(post(client, {"events": []}), 422, "validation_error")
    too_many = {"events": [event(f"k{i}") for i in range(1001)]}
    assert_error(post(client, too_many), 422, "validation_error")
    thousand = {"events": [event(f"k{i}") for i in range(1000)]}
    assert post(client, thousand).get_json() == {"accepted": 1000, "duplicates": 0}


@pytest.mark.parametrize("role", ["member", "platform_admin"])
def test_only_service_and_owner_record_usage(client, role):
    assert_error(post(client, {"events": [event("a")]}, role=role), 403, "forbidden_role")


def test_summary_groups_by_day_metric_and_conversation(client, ports):
    now = ports["clock"].now()
    yesterday = (now - timedelta(days=1)).isoformat()
    post(
        client,
        {
            "events": [
                event("a", 100, conversation_id="c1"),
                event("b", 50, "tts_words", conversation_id="c1"),
                event("c", 7, conversation_id="c2", occurred_at=yesterday),
            ]
        },
    )
    post(client, {"events": [event("z", 999)]}, org="org_b")

    def summary(group_by):
        return client.get(
            f"/api/v1/usage/summary?group_by={group_by}", headers=bearer("org_a", "member")
        ).get_json()["totals"]

    assert summary("metric") == [
        {"group": "stt_words", "metric": "stt_words", "quantity": 107, "events": 2},
        {"group": "tts_words", "metric": "tts_words", "quantity": 50, "events": 1},
    ]
    days = summary("day")
    assert [(d["group"], d["metric"], d["quantity"]) for d in days] == [
        ("2026-11-14", "stt_words", 7),
        ("2026-11-15", "stt_words", 100),
        ("2026-11-15", "tts_words", 50),
    ]
    conversations = {(c["group"], c["metric"]): c["quantity"] for c in summary("conversation")}
    assert conversations == {
        ("c1", "stt_words"): 100,
        ("c1", "tts_words"): 50,
        ("c2", "stt_words"): 7,
    }


def test_summary_window_and_validation(client):
    url = "/api/v1/usage/summary?from=2026-11-20T00:00:00Z&to=2026-11-10T00:00:00Z"
    assert_error(client.get(url, headers=bearer("org_a", "member")), 422, "validation_error")
    assert_error(
        client.get("/api/v1/usage/summary?group_by=hour", headers=bearer("org_a", "member")),
        422,
        "validation_error",
    )
