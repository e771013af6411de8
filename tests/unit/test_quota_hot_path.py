"""The consume path as every request of a product takes it: the body read without webargs,
verified tokens remembered per process, the answer written without jsonify, Flask-Limiter's
hooks skipped on paths without a per-IP limit. Each is held to what the slower path did."""

from __future__ import annotations

import json
import time

import jwt
import marshmallow as ma
import pytest
from flask import jsonify

from domain.model.plans import Metric
from domain.model.quotas import QuotaDecision
from entrypoints.api.auth import Principal, Role, VerifiedTokens
from entrypoints.api.quota import decision_response
from entrypoints.api.quota_body import SCHEMA, plain_body
from tests.helpers import auth, bearer, make_token
from tests.unit.test_http_errors import assert_error
from tests.unit.test_quota_api import CONSUME

BODIES = [
    {"metric": "queries"},
    {"metric": "documents", "amount": 3},
    {"metric": "stt_words", "amount": 2**53 - 1, "idempotency_key": "k" * 255},
    {"metric": "queries", "idempotency_key": "req-1"},
    {"metric": "queries", "idempotency_key": None},
    {"metric": "queries", "idempotency_key": ""},
    {"metric": "queries", "idempotency_key": "k" * 256},
    {"metric": "queries", "idempotency_key": "tab\there"},
    {"metric": "queries", "idempotency_key": 7},
    {"metric": "queries", "amount": 0},
    {"metric": "queries", "amount": -1},
    {"metric": "queries", "amount": 2**53},
    {"metric": "queries", "amount": True},
    {"metric": "queries", "amount": 1.0},
    {"metric": "queries", "amount": "1"},
    {"metric": "queries", "amount": None},
    {"metric": "Queries"},
    {"metric": "queries\n"},
    {"metric": None},
    {"metric": ["queries"]},
    {"amount": 1},
    {},
    {"metric": "queries", "org_id": "org_b"},
    [],
    "queries",
    7,
    None,
]


class FakeRequest:
    def __init__(self, raw: bytes, mimetype: str = "application/json") -> None:
        self.raw, self.mimetype = raw, mimetype

    def get_data(self, cache: bool = True) -> bytes:
        return self.raw


@pytest.mark.parametrize("body", BODIES, ids=[json.dumps(b)[:40] for b in BODIES])
def test_a_plainly_read_body_is_what_the_schema_loads(body):
    read = plain_body(FakeRequest(json.dumps(body).encode()))  # type: ignore[arg-type]
    try:
        loaded = SCHEMA.load(body)
    except ma.ValidationError:
        assert read is None  # refused by the schema: never taken by the plain reading
        return
    if read is not None:
        assert read == loaded


@pytest.mark.parametrize("body", BODIES[:4], ids=["plain", "amount", "largest", "key"])
def test_the_common_bodies_are_read_plainly(body):
    assert plain_body(FakeRequest(json.dumps(body).encode())) is not None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b'{"metric": "queries"} x',
        '{"metric": "queries"}'.encode("utf-16"),
        b'{"metric": "queries", "amount": ' + b"9" * 40 + b"}",
        b'{"metric": "queries", "amount": NaN}',
    ],
)
def test_malformed_or_odd_bytes_are_left_to_the_parser(raw):
    assert plain_body(FakeRequest(raw)) is None  # type: ignore[arg-type]


def test_another_media_type_is_left_to_the_parser():
    assert plain_body(FakeRequest(b'{"metric": "queries"}', "text/plain")) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b'{"metric": "queries", "org_id": "org_b"}', 422, "validation_error"),
        (b'{"metric": "nope"}', 422, "validation_error"),
        (b'{"metric": "queries", "amount": 0}', 422, "validation_error"),
        (b'{"metric": "queries", "amount": true}', 422, "validation_error"),
        (b'{"metric": "queries", "amount": "1"}', 422, "validation_error"),
        (b'{"metric": "queries", "amount": ' + b"9" * 40 + b"}", 422, "validation_error"),
        (b'{"metric": "queries", "idempotency_key": "a\\u0000b"}', 422, "validation_error"),
        (b"{}", 422, "validation_error"),
        (b"[]", 422, "validation_error"),
        (b"{", 400, "bad_request"),
        (b"\xff\xfe", 400, "bad_request"),
    ],
)
def test_bad_bodies_are_refused_as_before_and_consume_nothing(client, raw, status, code):
    headers = {**bearer("org_a", "service"), "Content-Type": "application/json"}
    response = client.post(CONSUME, data=raw, headers=headers)
    body = assert_error(response, status, code)
    if status == 422 and raw not in (b"[]",):
        assert body["errors"]
    used = client.post(CONSUME, json={"metric": "queries"}, headers=bearer("org_a", "service"))
    assert used.get_json()["used"] == 1  # the refused bodies consumed nothing


def test_a_body_that_is_not_json_is_415(client):
    headers = {**bearer("org_a", "service"), "Content-Type": "text/plain"}
    response = client.post(CONSUME, data=b'{"metric": "queries"}', headers=headers)
    assert_error(response, 415, "unsupported_media_type")


def test_the_answer_is_the_bytes_jsonify_writes(app):
    decisions = [
        QuotaDecision(True, Metric.QUERIES, 1, 100, None),
        QuotaDecision(True, Metric.DOCUMENTS, 7, None, None, duplicate=True),
    ]
    with app.test_request_context():
        for decision in decisions:
            ours = decision_response(decision)
            body = {
                "allowed": decision.allowed,
                "metric": decision.metric.value,
                "used": decision.used,
                "limit": decision.limit,
                "remaining": decision.remaining,
                "resets_at": None,
                "duplicate": decision.duplicate,
            }
            assert ours.get_data() == jsonify(body).get_data()
            assert ours.mimetype == "application/json"


def test_a_cached_token_is_refused_once_it_expires(client, app):
    app.extensions["billing"].settings.jwt_leeway_s = 0
    token = make_token("org_a", "service", expires_in=2)  # at least 1 s left (exp is whole)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    first = client.post(CONSUME, json={"metric": "queries"}, headers=auth(token))
    assert first.status_code == 200
    assert client.post(CONSUME, json={"metric": "queries"}, headers=auth(token)).status_code == 200
    time.sleep(max(0.0, expires - time.time()) + 0.1)
    response = client.post(CONSUME, json={"metric": "queries"}, headers=auth(token))
    assert_error(response, 401, "token_expired")
    again = client.post(CONSUME, json={"metric": "queries"}, headers=auth(token))
    assert_error(again, 401, "token_expired")


def test_a_forged_token_is_refused_while_the_real_one_is_cached(client):
    real = make_token("org_a", "service")
    assert client.post(CONSUME, json={"metric": "queries"}, headers=auth(real)).status_code == 200
    forged = make_token("org_a", "service", secret="another-secret-" + "y" * 40)
    response = client.post(CONSUME, json={"metric": "queries"}, headers=auth(forged))
    assert_error(response, 401, "token_invalid")
    tampered = real[:-2] + ("AA" if not real.endswith("AA") else "BB")
    response = client.post(CONSUME, json={"metric": "queries"}, headers=auth(tampered))
    assert_error(response, 401, "token_invalid")


def test_each_cached_token_counts_for_its_own_organization_only(client):
    a, b = auth(make_token("org_a", "service")), auth(make_token("org_b", "service"))
    for _ in range(3):
        assert client.post(CONSUME, json={"metric": "queries"}, headers=a).status_code == 200
    response = client.post(CONSUME, json={"metric": "queries", "org_id": "org_a"}, headers=b)
    assert_error(response, 422, "validation_error")  # the organization is never taken from a body
    assert client.post(CONSUME, json={"metric": "queries"}, headers=b).get_json()["used"] == 1
    assert client.post(CONSUME, json={"metric": "queries"}, headers=a).get_json()["used"] == 4


def test_a_cached_token_of_another_role_is_refused_every_time(client):
    member = auth(make_token("org_a", "member"))
    for _ in range(2):
        response = client.post(CONSUME, json={"metric": "queries"}, headers=member)
        assert_error(response, 403, "forbidden_role")


def test_a_token_with_refused_claims_is_not_kept(client, app):
    token = make_token("org_a", "service", drop=("sub",))
    for _ in range(2):
        response = client.post(CONSUME, json={"metric": "queries"}, headers=auth(token))
        assert_error(response, 401, "token_invalid")
    tokens = app.extensions["billing"].extras.get("verified_tokens")
    assert tokens is None or tokens.get("Bearer " + token, 0) is None


def test_verified_tokens_forget_expired_entries_and_stay_bounded():
    tokens = VerifiedTokens(size=2)
    who = Principal("user-1", "org_a", Role.SERVICE)
    tokens.put("Bearer old", time.time() - 1, who)
    assert tokens.get("Bearer old", 0) is None
    assert tokens.get("Bearer old", 5) is None  # forgotten, not revived by a leeway
    tokens.put("Bearer a", time.time() + 60, who)
    assert tokens.get("Bearer a", 0) == who
    tokens.put("Bearer b", time.time() + 60, who)
    tokens.put("Bearer c", time.time() + 60, who)
    assert tokens.get("Bearer c", 0) == who
    assert tokens.get("Bearer a", 0) is None  # full: emptied before the newest went in


def test_consume_still_answers_request_ids_and_is_timed(client, app):
    response = client.post(
        CONSUME,
        json={"metric": "queries"},
        headers={**bearer("org_a", "service"), "X-Request-Id": "req.abc-1"},
    )
    assert response.headers["X-Request-Id"] == "req.abc-1"
    fresh = client.post(CONSUME, json={"metric": "queries"}, headers=bearer("org_a", "service"))
    assert len(fresh.headers["X-Request-Id"]) == 32
    int(fresh.headers["X-Request-Id"], 16)
    from entrypoints.metrics import REGISTRY

    value = REGISTRY.get_sample_value(
        "billing_http_request_duration_seconds_count",
        {"route": CONSUME, "method": "POST", "status": "200"},
    )
    assert value is not None and value >= 2


def test_the_consume_operation_is_documented_as_before(app):
    spec = app.extensions["billing_api"].spec.to_dict()
    operation = spec["paths"][CONSUME]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ConsumeRequest"}
    assert {"200", "401", "403", "413", "415", "422", "429", "503"} <= set(operation["responses"])
    fields = spec["components"]["schemas"]["ConsumeRequest"]["properties"]
    assert set(fields) == {"metric", "amount", "idempotency_key"}


def test_limited_paths_keep_flask_limiters_hooks(settings, stripe):
    from tests.unit.test_hardening import app_with

    client = app_with(settings, stripe, rate_limit_per_ip="5/minute").test_client()
    limited = client.get("/api/v1/plans")
    assert limited.headers["X-RateLimit-Limit"] == "5"  # the after-request hook ran
    assert limited.headers["X-RateLimit-Remaining"] == "4"
    consumed = client.post(CONSUME, json={"metric": "queries"}, headers=bearer("org_a", "service"))
    assert consumed.status_code == 200
    assert not any(name.startswith("X-RateLimit") for name in consumed.headers.keys())
    assert client.get("/api/v1/plans").headers["X-RateLimit-Remaining"] == "3"
