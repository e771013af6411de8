"""Usage alerts and the spend cap through the HTTP layer, with the in-memory ports: what owners
may set, what is refused (422 with a stable code, nothing changed), who may change them, and
what a bigger plan resolves."""

from __future__ import annotations

import pytest

from domain.model.plans import Metric, Tier
from domain.services.quotas import flush_ledger
from tests.helpers import bearer
from tests.unit.test_http_errors import assert_error
from tests.unit.test_quota_api import consume, subscribe

ALERTS = "/api/v1/alerts"
CAP = "/api/v1/billing/spend-cap"


def outbox(ports, event_type=None):
    return [
        m.event_type
        for m in ports["uow"].store.outbox.values()
        if event_type is None or m.event_type == event_type
    ]


def test_the_defaults_are_80_and_100_percent_of_every_limited_metric(client):
    body = client.get(ALERTS, headers=bearer(role="member")).get_json()
    assert body["defaults"] is True
    assert [(t["metric"], t["percent"], t["level"], t["state"]) for t in body["thresholds"]] == [
        ("queries", 80, 80, "pending"),
        ("queries", 100, 100, "pending"),
        ("documents", 80, 4, "pending"),
        ("documents", 100, 5, "pending"),
    ]


def test_an_owner_sets_thresholds_and_the_counter_decides_with_them_at_once(client, ports):
    body = client.put(
        ALERTS,
        json={
            "thresholds": [
                {"metric": "queries", "percent": 50},
                {"metric": "stt_words", "amount": 1000},
                {"metric": "queries", "percent": 50},  # a repeat is kept once
            ]
        },
        headers=bearer(),
    ).get_json()
    assert body["defaults"] is False
    assert [(t["id"], t["level"]) for t in body["thresholds"]] == [
        ("percent:50", 50),
        ("amount:1000", 1000),
    ]
    window = ports["quota_counter"].windows["org_a"]
    assert window.alerts == {
        Metric.QUERIES: {"percent:50": 50},
        Metric.STT_WORDS: {"amount:1000": 1000},
    }
    assert consume(client, amount=50).status_code == 200
    flush_ledger(client.application.extensions["billing"].quota)
    assert outbox(ports) == ["quota.threshold_reached"]
    assert client.put(ALERTS, json={"thresholds": None}, headers=bearer()).get_json()["defaults"]


@pytest.mark.parametrize(
    ("threshold", "code"),
    [
        ({"metric": "queries", "percent": 101}, "alert_threshold_invalid"),
        ({"metric": "queries", "percent": 0}, "alert_threshold_invalid"),
        ({"metric": "queries", "amount": -5}, "alert_threshold_invalid"),
        ({"metric": "queries", "amount": 2**53}, "alert_threshold_invalid"),
        ({"metric": "queries", "amount": 10**30}, "validation_error"),
        ({"metric": "stt_words", "percent": 80}, "alert_threshold_invalid"),  # unlimited
        ({"metric": "minutes", "percent": 80}, "validation_error"),
        ({"metric": "queries"}, "validation_error"),
        ({"metric": "queries", "percent": 80, "amount": 5}, "validation_error"),
        ({"metric": "queries", "percent": "80"}, "validation_error"),
        ({"metric": "queries", "percent": 80.5}, "validation_error"),
    ],
)
def test_bad_thresholds_are_refused_and_change_nothing(client, ports, threshold, code):
    before = client.get(ALERTS, headers=bearer()).get_json()
    response = client.put(
        ALERTS,
        json={"thresholds": [{"metric": "queries", "amount": 3}, threshold]},
        headers=bearer(),
    )
    assert_error(response, 422, code)
    assert client.get(ALERTS, headers=bearer()).get_json() == before
    assert ports["uow"].store.alert_settings == {}


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ({"amount_minor": 500, "currency": "eur"}, "spend_cap_invalid"),
        ({"amount_minor": 0, "currency": "usd"}, "spend_cap_invalid"),
        ({"amount_minor": -1, "currency": "usd"}, "spend_cap_invalid"),
        ({"amount_minor": 100_000_000, "currency": "usd"}, "spend_cap_invalid"),
        ({"amount_minor": 10**40, "currency": "usd"}, "validation_error"),
        ({"amount_minor": "5", "currency": "usd"}, "validation_error"),
        ({"amount_minor": 5}, "validation_error"),
        ({"amount_minor": 5, "currency": "usd", "extra": 1}, "validation_error"),
    ],
)
def test_bad_caps_are_refused_and_change_nothing(client, ports, amount, code):
    assert (
        client.put(
            CAP, json={"amount": {"amount_minor": 900, "currency": "usd"}}, headers=bearer()
        ).status_code
        == 200
    )
    assert_error(client.put(CAP, json={"amount": amount}, headers=bearer()), 422, code)
    assert client.get(CAP, headers=bearer()).get_json()["cap"]["amount_minor"] == 900
    assert ports["quota_counter"].windows["org_a"].cap_words == 9000


def test_a_cap_is_set_shown_and_removed(client, ports):
    body = client.put(
        CAP, json={"amount": {"amount_minor": 99_999_999, "currency": "usd"}}, headers=bearer()
    ).get_json()
    assert body["cap"] == {
        "amount_minor": 99_999_999,
        "currency": "usd",
        "display": "999999.99 USD",
    }
    assert body["spent"] == {"amount_minor": 0, "currency": "usd", "display": "0.00 USD"}
    assert ports["quota_counter"].windows["org_a"].cap_words == 999_999_990
    assert client.put(CAP, json={"amount": None}, headers=bearer()).get_json()["cap"] is None
    assert ports["quota_counter"].windows["org_a"].cap_words is None
    client.put(CAP, json={"amount": {"amount_minor": 5, "currency": "usd"}}, headers=bearer())
    assert client.delete(CAP, headers=bearer()).get_json()["cap"] is None


@pytest.mark.parametrize("role", ["member", "service"])
def test_only_owners_change_alerts_and_the_cap(client, ports, role):
    who = bearer(role=role)
    assert_error(client.put(ALERTS, json={"thresholds": []}, headers=who), 403, "forbidden_role")
    assert_error(
        client.put(CAP, json={"amount": {"amount_minor": 5, "currency": "usd"}}, headers=who),
        403,
        "forbidden_role",
    )
    assert_error(client.delete(CAP, headers=who), 403, "forbidden_role")
    assert ports["uow"].store.alert_settings == {}


def test_a_bigger_plan_resolves_a_fired_threshold_once_and_it_may_fire_again(client, app, ports):
    assert consume(client, amount=85).status_code == 200  # free: 100 queries, 80% fired
    quota = app.extensions["billing"].quota
    flush_ledger(quota)
    assert outbox(ports) == ["quota.threshold_reached"]
    subscribe(app, ports, "org_a", Tier.STARTER)  # 5,000 queries: 85 is under 80% (4,000)
    assert consume(client).status_code == 200
    assert consume(client).status_code == 200
    flush_ledger(quota)
    assert outbox(ports) == ["quota.threshold_reached", "quota.reset"]
    app.extensions["billing"].payments.plan_changed("org_a")  # reloaded: not resolved twice
    consume(client)
    rows = {
        t["id"]: t
        for t in client.get(ALERTS, headers=bearer()).get_json()["thresholds"]
        if t["metric"] == "queries"
    }
    assert (rows["percent:80"]["state"], rows["percent:80"]["level"]) == ("resolved", 4000)
    assert rows["percent:100"]["state"] == "pending"
    assert consume(client, amount=4000 - 88).status_code == 200
    flush_ledger(quota)
    assert outbox(ports) == ["quota.threshold_reached", "quota.reset", "quota.threshold_reached"]


def test_the_cap_refusal_says_the_cap_the_spend_and_when_it_resets(client, ports):
    client.put(CAP, json={"amount": {"amount_minor": 1, "currency": "usd"}}, headers=bearer())
    assert consume(client, metric="stt_words", amount=10).status_code == 200
    response = consume(client, metric="tts_words", amount=1)
    body = assert_error(response, 429, "spend_cap_reached")
    assert body["cap"]["amount_minor"] == 1 and body["spent"]["amount_minor"] == 1
    assert body["metric"] == "tts_words"
    assert body["resets_at"].startswith("2026-12-01T00:00:00")
    assert int(response.headers["Retry-After"]) > 0
    flush_ledger(client.application.extensions["billing"].quota)
    assert outbox(ports) == ["spend_cap.reached"]
