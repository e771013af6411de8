"""The quota fast lane against the Flask route on real Postgres and Redis: for each request the
lane answers exactly what Flask answers (status, every header, the body's bytes) on the same
state, consumes the same units and counts the same metrics; it answers only the plain case."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from entrypoints import metrics
from entrypoints.api.app import create_app
from entrypoints.api.auth import Principal, Role
from tests.helpers import auth, make_token
from tests.unit.fakes import FakeClock

CONSUME = "/api/v1/quota/consume"
STATUS = "/api/v1/billing/quota"


@dataclass
class Case:
    name: str
    body: bytes = b'{"metric": "queries"}'
    content_type: str = "application/json"
    role: str = "service"
    secret: str | None = None  # a token signed with another key
    expired: bool = False  # a cached token past its expiry
    setup: Callable[[Any, str, dict[str, str]], None] = lambda client, org, headers: None
    settings: dict[str, Any] = field(default_factory=dict)
    lane: bool = False  # the lane answers it (else Flask does)
    handed: bool = False  # the lane consumes, the Flask route answers


def consume(client: Any, headers: dict[str, str], **body: Any) -> None:
    client.post(CONSUME, json=body, headers=headers)


def to_the_limit(client: Any, org: str, headers: dict[str, str]) -> None:
    consume(client, headers, metric="queries", amount=100)  # the free plan's 100


def keyed_once(client: Any, org: str, headers: dict[str, str]) -> None:
    consume(client, headers, metric="queries", idempotency_key="req-7")


def capped(client: Any, org: str, headers: dict[str, str]) -> None:
    owner = auth(make_token(org, "owner"))
    answer = client.put(
        "/api/v1/billing/spend-cap",
        json={"amount": {"amount_minor": 10, "currency": "usd"}},
        headers=owner,
    )
    assert answer.status_code == 200, answer.get_json()


def a_neighbour_consumes(client: Any, org: str, headers: dict[str, str]) -> None:
    neighbour = auth(make_token(f"{org}_n", "service"))
    consume(client, neighbour, metric="queries", amount=60)


CASES = [
    Case("plain allowed", lane=True),
    Case("allowed with amount", body=b'{"metric": "queries", "amount": 5}', lane=True),
    Case("gauge", body=b'{"metric": "documents", "amount": 2}', lane=True),
    Case("another organization's use is not ours", setup=a_neighbour_consumes, lane=True),
    Case("refused at the limit", setup=to_the_limit, handed=True),
    Case(
        "idempotency key repeated",
        body=b'{"metric": "queries", "idempotency_key": "req-7"}',
        setup=keyed_once,
        lane=True,
    ),
    Case("unknown token", secret="another-secret-that-is-long-enough-0123"),
    Case("expired cached token", expired=True),
    Case("wrong role", role="member"),
    Case("bad JSON", body=b'{"metric": '),
    Case("wrong content type", content_type="text/plain"),
    Case("JSON with parameters", content_type="application/json; charset=utf-8"),
    Case("extra field", body=b'{"metric": "queries", "org_id": "org_other"}'),
    Case("metered limit configured", settings={"rate_limit_metered": "1000/minute"}),
    Case(
        "spend cap refusal",
        body=b'{"metric": "tts_words", "amount": 500}',
        setup=capped,
        handed=True,
    ),
    Case(
        "Redis down",
        settings={"quota_redis_url": "redis://127.0.0.1:32001/12"},
        handed=True,
    ),
]


@pytest.fixture
def make_app(settings: Any, clean_db: Any, clean_redis: Any) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def build(**overrides: Any) -> Any:
        clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
        app = create_app(settings.model_copy(update=overrides), clock=clock)
        app.config["TESTING"] = True
        made.append(app)
        return app

    try:
        yield build
    finally:
        for app in made:
            app.extensions["billing"].engine.dispose()


def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            if sample.name.endswith(("_count", "_total")):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def moved(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def run(app: Any, case: Case, org: str, request_id: str | None) -> dict[str, Any]:
    client = app.test_client()
    token_args = {"secret": case.secret} if case.secret else {}
    token = make_token(org, case.role, expires_in=-60 if case.expired else 3600, **token_args)
    headers = auth(token)
    if not case.expired and not case.secret:
        client.post(CONSUME, data=b"{}", headers=headers, content_type="application/json")
    else:  # what the process remembers of a token once verified, now past its expiry
        tokens = app.extensions["billing"].extras.get("verified_tokens")
        if tokens is not None and case.expired:
            tokens.put(f"Bearer {token}", time.time() - 1, Principal("user-1", org, Role.SERVICE))
    case.setup(client, org, headers)
    lane = app.extensions["quota_lane"]
    taken, handed, before = lane.taken, lane.handed, samples()
    sent = {**headers, **({"X-Request-Id": request_id} if request_id else {})}
    answer = client.post(CONSUME, data=case.body, headers=sent, content_type=case.content_type)
    after = samples()
    owner = auth(make_token(org, "owner"))
    usage = client.get(STATUS, headers=owner)
    return {
        "status": answer.status,
        "headers": [(k, v) for k, v in answer.headers.items() if k != "Date"],
        "body": answer.get_data(),
        "taken": lane.taken - taken,
        "handed": lane.handed - handed,
        "metrics": moved(before, after),
        "usage": (usage.status_code, _usage(usage.get_json())),
    }


def _usage(body: Any) -> Any:
    if not isinstance(body, dict) or "metrics" not in body:
        return body
    return sorted((m["metric"], m["used"]) for m in body["metrics"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_lane_answers_as_flask_does(make_app, case):
    app = make_app(**case.settings)
    tokens = app.extensions["billing"].extras
    if case.expired:  # the cache exists once any token was verified
        run(app, Case("warm", body=b"{}"), "org_warm", None)
    lane_run = run(app, case, "org_lane", "req-lane-1")
    app.extensions["quota_lane"].enabled = False
    flask_run = run(app, case, "org_flask", "req-lane-1")
    assert lane_run["taken"] == (1 if case.lane else 0)
    assert lane_run["handed"] == (1 if case.handed else 0)
    assert flask_run["taken"] == flask_run["handed"] == 0
    for part in ("status", "headers", "body", "metrics", "usage"):
        assert lane_run[part] == flask_run[part], part
    assert "verified_tokens" in tokens


def test_the_plain_answer_is_counted_and_carries_a_new_request_id(make_app):
    app = make_app()
    case = Case("plain", lane=True)
    lane_run = run(app, case, "org_lane", None)
    assert lane_run["taken"] == 1
    assert lane_run["status"] == "200 OK"
    request_id = dict(lane_run["headers"])["X-Request-Id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    counted = {
        (name, frozenset(labels)): value for (name, labels), value in lane_run["metrics"].items()
    }
    route = {("route", CONSUME), ("method", "POST"), ("status", "200")}
    decision = {("operation", "consume"), ("metric", "queries"), ("outcome", "allowed")}
    assert counted == {
        ("billing_http_request_duration_seconds_count", frozenset(route)): 1,
        ("billing_quota_decisions_total", frozenset(decision)): 1,
    }
    assert json.loads(lane_run["body"])["used"] == 1


def test_an_error_while_the_lane_consumes_is_answered_as_flask_answers_it(make_app, monkeypatch):
    def failing(*args: Any) -> Any:
        raise RuntimeError("the counter failed")

    monkeypatch.setattr("entrypoints.api.quota_lane.consume_quota", failing)
    monkeypatch.setattr("entrypoints.api.quota.consume_quota", failing)
    app = make_app()
    case = Case("an error")
    lane_run = run(app, case, "org_lane", "req-lane-1")
    app.extensions["quota_lane"].enabled = False
    flask_run = run(app, case, "org_flask", "req-lane-1")
    assert (lane_run["taken"], lane_run["handed"]) == (0, 1)
    assert lane_run["status"] == "500 INTERNAL SERVER ERROR"
    for part in ("status", "headers", "body", "metrics", "usage"):
        assert lane_run[part] == flask_run[part], part
