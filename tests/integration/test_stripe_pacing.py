"""Stripe's rate limit kept by every process at once (the schedule in the real Redis), a 429
answered by the stand-in retried with the same idempotency key, and the bound on waiting; the
same usage invoicing on Postgres with the shared schedule and on the embedded default with the
in-process one."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

from adapters.stripe_gateway import StripeGateway, make_stripe_client
from adapters.stripe_pacing import LocalSlots, RedisSlots
from domain.errors import PaymentProviderUnavailable
from domain.model.customers import StripeCustomer
from domain.model.plans import Metric
from domain.services.invoicing import Outcome, invoice_unbilled_usage
from entrypoints.bootstrap import bootstrap, stripe_pacing
from tests.integration.conftest import REDIS_URL, backend_settings
from tests.integration.test_invoicing import add_events
from tests.stripe_limit_standin import StripeLimitStandIn

RATE = 20
PROCESSES = 3
CALLS = 40  # each: 120 calls, six seconds at the rate


def _gateway(settings) -> StripeGateway:
    pacing = stripe_pacing(settings, redis.Redis.from_url(REDIS_URL))
    return StripeGateway(
        make_stripe_client(
            settings.stripe_secret_key,
            api_base=settings.stripe_api_base,
            max_network_retries=settings.stripe_max_network_retries,
            pacing=pacing,
        )
    )


def _settings(settings, standin: StripeLimitStandIn, **extra):
    return settings.model_copy(
        update={
            "stripe_secret_key": "sk_test_pacing",
            "stripe_api_base": standin.url,
            "rq_queue": f"pace-{uuid.uuid4().hex[:8]}",
            **extra,
        }
    )


def test_processes_sharing_the_schedule_stay_under_the_rate_and_close_to_it(clean_redis):
    prefix = f"pace-{uuid.uuid4().hex[:8]}"
    with StripeLimitStandIn() as standin:
        start_at = time.time() + 3  # every process imported and waiting
        command = [sys.executable, "-m", "tests.integration.pacing_caller", REDIS_URL, prefix]
        processes = [
            subprocess.Popen(
                [*command, str(RATE), standin.url, str(CALLS), str(start_at)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        try:
            outputs = [p.communicate(timeout=90)[0] for p in processes]
        finally:
            for p in processes:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        calls = sorted(c.at for c in standin.calls)
        busiest = standin.busiest_second()
    assert [o.split() for o in outputs] == [["done", str(CALLS)]] * PROCESSES
    assert len(calls) == PROCESSES * CALLS
    assert busiest <= RATE
    achieved = (len(calls) - 1) / (calls[-1] - calls[0])
    assert achieved >= 0.8 * RATE, f"{achieved:.1f} calls/s"


def test_threads_of_the_embedded_default_share_one_schedule():
    from entrypoints.config import Settings

    settings = Settings(_env_file=None, app_env="test", stripe_rate_limit=RATE)
    pacing = stripe_pacing(settings, redis.Redis.from_url(REDIS_URL))
    assert isinstance(pacing.slots, LocalSlots)
    with StripeLimitStandIn() as standin:
        gateway = StripeGateway(
            make_stripe_client("sk_test_pacing", api_base=standin.url, pacing=pacing)
        )
        barrier = threading.Barrier(PROCESSES)

        def call(n: int) -> None:
            barrier.wait()
            for i in range(CALLS):
                gateway.create_customer("org", None, None, idempotency_key=f"{n}:{i}")

        threads = [threading.Thread(target=call, args=(n,), daemon=True) for n in range(3)]
        try:
            for t in threads:
                t.start()
        finally:
            for t in threads:
                t.join(timeout=60)
        calls = sorted(c.at for c in standin.calls)
        busiest = standin.busiest_second()
    assert len(calls) == PROCESSES * CALLS
    assert busiest <= RATE
    assert (len(calls) - 1) / (calls[-1] - calls[0]) >= 0.8 * RATE


def test_a_429_is_retried_after_retry_after_with_the_same_idempotency_key(settings, clean_redis):
    with StripeLimitStandIn(refuse_first=1, retry_after="1") as standin:
        gateway = _gateway(_settings(settings, standin))
        gateway.create_customer("org_1", None, None, idempotency_key="customer:org_1")
        calls = list(standin.calls)
    assert [c.status for c in calls] == [429, 200]
    assert [c.idempotency_key for c in calls] == ["customer:org_1"] * 2
    assert calls[1].at - calls[0].at >= 1.0


def test_a_final_429_is_the_retryable_error(settings, clean_redis):
    with StripeLimitStandIn(refuse_first=100, retry_after="0") as standin:
        gateway = _gateway(_settings(settings, standin, stripe_rate_limit_retries=2))
        with pytest.raises(PaymentProviderUnavailable) as info:
            gateway.create_customer("org_1", None, None, idempotency_key="customer:org_1")
        statuses = standin.statuses()
    assert info.value.code == "stripe_unavailable"
    assert statuses == [429, 429, 429]


def test_a_call_never_waits_longer_than_the_bound(settings, clean_redis):
    with StripeLimitStandIn() as standin:
        # One call every 5.25 s, and at most one second of waiting.
        limited = _settings(
            settings, standin, stripe_rate_limit=0.2, stripe_rate_limit_max_wait_s=1.0
        )
        first, second = _gateway(limited), _gateway(limited)  # two workers, one schedule
        assert isinstance(stripe_pacing(limited, clean_redis).slots, RedisSlots)
        first.create_customer("org_1", None, None, idempotency_key="c:1")
        started = time.monotonic()
        with pytest.raises(PaymentProviderUnavailable, match="rate limit is busy"):
            second.create_customer("org_2", None, None, idempotency_key="c:2")
        waited = time.monotonic() - started
        assert len(standin.calls) == 1
    assert waited < 5.0  # it gave up without waiting for the next slot


def test_a_retry_after_past_the_bound_is_not_waited_for(settings, clean_redis):
    with StripeLimitStandIn(refuse_first=1, retry_after="60") as standin:
        gateway = _gateway(_settings(settings, standin, stripe_rate_limit_max_wait_s=2.0))
        started = time.monotonic()
        with pytest.raises(PaymentProviderUnavailable):
            gateway.create_customer("org_1", None, None, idempotency_key="c:1")
        assert time.monotonic() - started < 30
        assert standin.statuses() == [429]


@pytest.fixture(params=["postgres", "embedded"])
def backend(request, tmp_path):
    return backend_settings(request, tmp_path)


def test_usage_invoicing_through_a_429_bills_once(backend):
    with StripeLimitStandIn(refuse_first=2, retry_after="0") as standin:
        settings = _settings(backend, standin)
        container = bootstrap(settings)
        try:
            now = datetime.now(UTC)
            at = now - timedelta(hours=1)
            orgs = [f"org_pace_{n}" for n in range(4)]
            for org_id in orgs:
                add_events(container, org_id, [(f"{org_id}-a", Metric.STT_WORDS, 5_000, at)])
                with container.uow() as uow:
                    uow.customers.add_if_absent(
                        StripeCustomer(org_id, f"cus_{org_id}", None, None, now)
                    )
                    uow.commit()
            results: dict[str, Outcome] = {}

            def run(org_id: str) -> None:
                results[org_id] = invoice_unbilled_usage(container.invoicing, org_id, now).outcome

            threads = [threading.Thread(target=run, args=(o,), daemon=True) for o in orgs]
            try:
                for t in threads:
                    t.start()
            finally:
                for t in threads:
                    t.join(timeout=60)
            calls = list(standin.calls)
        finally:
            if container.engine is not None:
                container.engine.dispose()
    assert results == {org_id: Outcome.INVOICED for org_id in orgs}
    refused = [c for c in calls if c.status == 429]
    assert len(refused) == 2
    answered = [c for c in calls if c.status == 200]
    assert len(answered) == 4 * 3  # invoice, one item, finalize: each once per organization
    assert {c.idempotency_key for c in refused} <= {c.idempotency_key for c in answered}
    assert len({c.idempotency_key for c in answered}) == len(answered)
