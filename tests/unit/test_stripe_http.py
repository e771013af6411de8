"""Stripe calls through the paced HTTP client, with stripe-python's own request machinery and a
scripted transport: slots are waited for, a 429 is sent again after its Retry-After with the
same idempotency key, and no call waits past its bound."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
import stripe

from adapters.stripe_gateway import StripeGateway, make_stripe_client
from adapters.stripe_http import BACKOFF_S, Pacing, retry_after
from domain.errors import PaymentProviderUnavailable
from entrypoints.config import ConfigError, load_settings

CUSTOMER = json.dumps({"id": "cus_1", "object": "customer", "metadata": {}})
LIMITED = json.dumps({"error": {"type": "invalid_request_error", "code": "rate_limit"}})


class Transport(stripe.HTTPClient):
    """Answers from a script of (status, headers); records each request's headers."""

    name = "scripted"

    def __init__(self, answers: list[tuple[int, dict[str, str]]], clock: Any) -> None:
        super().__init__()
        self.answers = answers
        self.clock = clock
        self.sent: list[tuple[float, dict[str, str]]] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        self.sent.append((self.clock.now, dict(headers or {})))
        status, extra = self.answers.pop(0) if self.answers else (200, {})
        return (CUSTOMER if status == 200 else LIMITED), status, extra

    def close(self):
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Slots:
    def __init__(self, waits: list[float | None] | None = None, error: bool = False) -> None:
        self.waits = waits or []
        self.error = error
        self.bounds: list[float] = []

    def reserve(self, max_wait: float) -> float | None:
        self.bounds.append(max_wait)
        if self.error:
            raise redis.ConnectionError("down")
        return self.waits.pop(0) if self.waits else 0.0


def gateway(answers, slots=None, max_wait=5.0, retries=3):
    clock = Clock()
    transport = Transport(answers, clock)
    pacing = Pacing(slots or Slots(), max_wait, retries, sleep=clock.sleep, clock=clock)
    client = make_stripe_client(
        "sk_test_x", http_client=transport, pacing=pacing, max_network_retries=0
    )
    return StripeGateway(client), transport, clock


def create(gw: StripeGateway) -> str:
    return gw.create_customer("org_1", None, None, idempotency_key="customer:org_1")


def test_every_call_waits_for_its_slot_first():
    slots = Slots([0.25, 0.5])
    gw, transport, clock = gateway([], slots)
    create(gw)
    create(gw)
    assert clock.slept == [0.25, 0.5]
    assert [at for at, _ in transport.sent] == [0.25, 0.75]


def test_a_429_is_sent_again_after_retry_after_with_the_same_idempotency_key():
    gw, transport, clock = gateway([(429, {"Retry-After": "2"}), (200, {})])
    assert create(gw) == "cus_1"
    keys = [headers["Idempotency-Key"] for _, headers in transport.sent]
    assert keys == ["customer:org_1", "customer:org_1"]
    assert clock.slept == [2.0]
    assert transport.sent[1][0] == 2.0


def test_without_retry_after_a_short_backoff():
    gw, transport, clock = gateway([(429, {}), (429, {}), (200, {})])
    create(gw)
    assert len(transport.sent) == 3
    assert BACKOFF_S * 0.5 <= clock.slept[0] <= BACKOFF_S
    assert BACKOFF_S <= clock.slept[1] <= 2 * BACKOFF_S


def test_the_last_429_surfaces_as_the_retryable_error():
    gw, transport, _ = gateway([(429, {"Retry-After": "1"})] * 10, retries=2)
    with pytest.raises(PaymentProviderUnavailable) as info:
        create(gw)
    assert info.value.code == "stripe_unavailable"
    assert len(transport.sent) == 3  # the call and two retries


def test_a_retry_after_past_the_bound_is_not_waited_for():
    gw, transport, clock = gateway([(429, {"Retry-After": "30"})], max_wait=5.0)
    with pytest.raises(PaymentProviderUnavailable):
        create(gw)
    assert clock.slept == [] and len(transport.sent) == 1


def test_a_slot_past_the_bound_fails_the_call_without_sending_it():
    slots = Slots([None])
    gw, transport, clock = gateway([], slots, max_wait=5.0)
    with pytest.raises(PaymentProviderUnavailable, match="rate limit is busy"):
        create(gw)
    assert transport.sent == [] and clock.slept == []
    assert slots.bounds == [5.0]


def test_slot_and_retry_after_waits_share_one_bound():
    slots = Slots([1.0, 0.0])
    gw, _, clock = gateway([(429, {"Retry-After": "2"}), (200, {})], slots, max_wait=5.0)
    create(gw)
    assert slots.bounds == [5.0, 2.0]  # after 1 s for the slot and 2 s of Retry-After
    assert sum(clock.slept) <= 5.0


def test_an_unreachable_schedule_lets_the_call_through():
    gw, transport, _ = gateway([], Slots(error=True))
    assert create(gw) == "cus_1"
    assert len(transport.sent) == 1


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
        ({"Retry-After": "-1"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds(headers, seconds):
    assert retry_after(headers) == seconds


@pytest.mark.parametrize(
    ("env", "rate"),
    [
        ({"STRIPE_SECRET_KEY": "sk_live_abc"}, 100),
        ({"STRIPE_SECRET_KEY": "rk_live_abc"}, 100),
        ({"STRIPE_SECRET_KEY": "sk_test_abc"}, 25),
        ({"STRIPE_SECRET_KEY": "rk_test_abc"}, 25),
        ({"STRIPE_SECRET_KEY": "sk_live_abc", "STRIPE_RATE_LIMIT": "40"}, 40),
    ],
)
def test_the_rate_is_the_setting_or_the_keys_mode_default(monkeypatch, env, rate):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings(_env_file=None).stripe_rate == rate


@pytest.mark.parametrize(
    "env",
    [
        {"STRIPE_RATE_LIMIT": "0"},
        {"STRIPE_RATE_LIMIT": "fast"},
        {"STRIPE_RATE_LIMIT_MAX_WAIT_S": "-1"},
        {"STRIPE_RATE_LIMIT_RETRIES": "-1"},
    ],
)
def test_invalid_pacing_settings_are_refused_by_name(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=next(iter(env))):
        load_settings(_env_file=None)
