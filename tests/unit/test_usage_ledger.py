"""One usage ledger: consumptions and recorded usage count, show and bill as one."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from domain.errors import PaymentProviderUnavailable
from domain.model.invoicing import InvoiceStatus
from domain.model.plans import Metric
from domain.services.invoicing import Outcome, invoice_unbilled_usage
from domain.services.quotas import consume_quota, flush_ledger
from entrypoints.config import Settings
from tests.helpers import TEST_JWT_SECRET, bearer
from tests.unit.test_http_errors import assert_error
from tests.unit.test_invoicing import customer, record


def consume(client, metric="stt_words", amount=1, key=None, org="org_a"):
    body = {"metric": metric, "amount": amount, **({"idempotency_key": key} if key else {})}
    return client.post("/api/v1/quota/consume", json=body, headers=bearer(org, "service"))


def used(client, metric, org="org_a"):
    body = client.get("/api/v1/billing/quota", headers=bearer(org, "member")).get_json()
    return {m["metric"]: m["used"] for m in body["metrics"]}[metric]


def summary_total(client, metric, org="org_a"):
    body = client.get(
        "/api/v1/usage/summary?group_by=metric", headers=bearer(org, "member")
    ).get_json()
    return sum(t["quantity"] for t in body["totals"] if t["metric"] == metric)


def test_recorded_usage_counts_toward_the_quota_at_once(client):
    record(client, ("a", "stt_words", 500, None), ("b", "stt_words", 250, None))
    assert used(client, "stt_words") == 750 == summary_total(client, "stt_words")


def test_recorded_usage_is_never_refused_and_the_next_consume_is(client):
    record(client, ("a", "queries", 90, None))  # the free plan allows 100
    record(client, ("b", "queries", 30, None))  # already happened: stored, shown as overage
    assert used(client, "queries") == 120
    assert_error(consume(client, "queries"), 429, "quota_exceeded")


def test_consumed_voice_words_are_billed(client, app, ports):
    customer(client)
    assert consume(client, "stt_words", 1_500).status_code == 200
    flush_ledger(app.extensions["billing"].quota)
    body = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()
    assert body["outcome"] == "invoiced"
    assert body["invoice"]["lines"][0]["quantity"] == 1_500


def test_a_key_consumed_then_recorded_is_one_unit(client, app):
    assert consume(client, "stt_words", 700, key="conv-1").status_code == 200
    flush_ledger(app.extensions["billing"].quota)
    reply = client.post(
        "/api/v1/usage/events",
        json={"events": [{"metric": "stt_words", "quantity": 700, "idempotency_key": "conv-1"}]},
        headers=bearer("org_a", "service"),
    ).get_json()
    assert reply == {"accepted": 0, "duplicates": 1}
    assert used(client, "stt_words") == 700 == summary_total(client, "stt_words")


def test_a_key_recorded_before_the_consume_is_flushed_is_still_one_unit(client, app):
    quota = app.extensions["billing"].quota
    assert consume_quota(quota, "org_a", Metric.STT_WORDS, 700, "conv-2").allowed  # not flushed
    record(client, ("conv-2", "stt_words", 700, None))  # stored first: the ledger keeps it
    counter = quota.counter.counters[("org_a", Metric.STT_WORDS)]
    assert counter[1] == 1_400  # counted twice until the flush settles it
    flush_ledger(quota)
    assert used(client, "stt_words") == 700 == summary_total(client, "stt_words")


def test_keys_are_per_metric(client):
    record(client, ("same", "stt_words", 10, None), ("same", "tts_words", 20, None))
    assert used(client, "stt_words") == 10 and used(client, "tts_words") == 20


def test_a_lost_counter_is_rebuilt_from_the_whole_ledger(client, app, ports):
    record(client, ("a", "queries", 40, None))
    quota = app.extensions["billing"].quota
    assert consume_quota(quota, "org_a", Metric.QUERIES, 10).allowed  # not flushed yet
    ports["quota_counter"].lose_counters()  # a Redis restart: stream and counters gone
    assert used(client, "queries") == 40  # the unflushed consumption was lost with Redis
    assert consume(client, "queries", 60).status_code == 200
    assert_error(consume(client, "queries"), 429, "quota_exceeded")


def test_late_usage_counts_in_its_own_period_and_is_billed_next_time(client, app, ports):
    customer(client)
    now = ports["clock"].now()
    record(client, ("late", "stt_words", 2_000, now - timedelta(days=40)))
    assert used(client, "stt_words") == 0  # not this period's usage
    body = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()
    assert body["invoice"]["lines"][0]["quantity"] == 2_000


@pytest.mark.parametrize(
    ("currency", "words", "outcome"),
    [
        ("eur", 1, "below_minimum"),
        ("eur", 500, "invoiced"),
        ("gbp", 294, "below_minimum"),
        ("gbp", 300, "invoiced"),
        ("jpy", 1, "below_minimum"),
        ("jpy", 49_000, "below_minimum"),
        ("jpy", 50_000, "invoiced"),
    ],
)
def test_the_minimum_charge_of_each_currency(tmp_path, ports, stripe, currency, words, outcome):
    from entrypoints.api.app import create_app

    settings = Settings(
        _env_file=None,
        app_env="test",
        instance_path=tmp_path,
        jwt_secret_key=TEST_JWT_SECRET,
        usage_currency=currency,
    )
    client = create_app(settings, **ports).test_client()
    customer(client)
    record(client, ("a", "stt_words", words, None))
    body = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()
    assert body["outcome"] == outcome
    assert len(stripe.invoices) == (outcome == "invoiced")


def test_an_invoice_over_stripes_maximum_is_held_not_sent(client, ports, stripe):
    customer(client)
    record(client, ("huge", "stt_words", 2**53 - 1, None))
    body = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()
    assert body["outcome"] == "held" and stripe.invoices == {}
    assert body["invoice"]["status"] == "held"
    assert body["invoice"]["hold_reason"] == "amount_too_large"
    again = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()
    assert again["outcome"] == "nothing_to_bill" and stripe.invoices == {}  # never retried


def test_a_caller_that_finds_a_draft_being_finished_calls_stripe_for_nothing(
    client, app, ports, stripe
):
    customer(client)
    record(client, ("a", "stt_words", 5_000, None))
    deps = app.extensions["billing"].invoicing
    started, release = threading.Event(), threading.Event()
    create = stripe.create_invoice

    def slow_create(*args, **kwargs):
        started.set()
        release.wait(10)
        return create(*args, **kwargs)

    stripe.create_invoice = slow_create
    cutoff = ports["clock"].now() + timedelta(minutes=5)
    results = []
    first = threading.Thread(
        target=lambda: results.append(invoice_unbilled_usage(deps, "org_a", cutoff)), daemon=True
    )
    try:
        first.start()
        assert started.wait(10)
        second = invoice_unbilled_usage(deps, "org_a", cutoff)
    finally:
        release.set()
        first.join(10)
    assert second.outcome is Outcome.NOTHING_TO_BILL
    assert second.invoice is not None and second.invoice.status is InvoiceStatus.DRAFT
    assert results[0].outcome is Outcome.INVOICED and results[0].invoice.id == second.invoice.id
    ops = [op for op, _ in stripe.calls if op.startswith("invoice")]
    assert ops == ["invoices.create", "invoiceitems.create", "invoices.finalize"]


def test_resuming_an_unfinished_draft_is_claimed_too(client, app, ports, stripe):
    customer(client)
    record(client, ("a", "stt_words", 5_000, None))
    deps = app.extensions["billing"].invoicing
    cutoff = ports["clock"].now() + timedelta(minutes=5)
    stripe.fail_on("invoices.finalize", PaymentProviderUnavailable("Stripe is unavailable"))
    with pytest.raises(PaymentProviderUnavailable):
        invoice_unbilled_usage(deps, "org_a", cutoff)
    started, release = threading.Event(), threading.Event()
    finalize = stripe.finalize_invoice

    def slow_finalize(*args, **kwargs):
        started.set()
        release.wait(10)
        return finalize(*args, **kwargs)

    stripe.finalize_invoice = slow_finalize
    before = len(stripe.calls)
    results = []
    first = threading.Thread(
        target=lambda: results.append(invoice_unbilled_usage(deps, "org_a", cutoff)), daemon=True
    )
    try:
        first.start()
        assert started.wait(10)
        second = invoice_unbilled_usage(deps, "org_a", cutoff)  # nothing new; draft is taken
    finally:
        release.set()
        first.join(10)
    assert second.outcome is Outcome.NOTHING_TO_BILL and second.invoice is not None
    assert results[0].outcome is Outcome.INVOICED
    assert [op for op, _ in stripe.calls[before:]] == ["invoices.finalize"]


@pytest.mark.parametrize(
    "amount", ["9" * 5000, "-" + "9" * 5000, str(2**63), "1.5", '"12"', "1e999"]
)
def test_numbers_out_of_range_answer_422_naming_the_field(client, amount):
    body = '{"metric": "stt_words", "amount": ' + amount + "}"
    response = client.post(
        "/api/v1/quota/consume",
        data=body,
        content_type="application/json",
        headers=bearer("org_a", "service"),
    )
    assert_error(response, 422, "validation_error")
    assert "amount" in str(response.get_json()["errors"])


def test_a_huge_quantity_in_a_batch_names_its_index(client):
    events = (
        '{"events": [{"metric": "stt_words", "quantity": 1, "idempotency_key": "a"}, '
        '{"metric": "stt_words", "quantity": ' + "7" * 5000 + ', "idempotency_key": "b"}]}'
    )
    response = client.post(
        "/api/v1/usage/events",
        data=events,
        content_type="application/json",
        headers=bearer("org_a", "service"),
    )
    assert_error(response, 422, "validation_error")
    assert response.get_json()["errors"]["json"]["events"]["1"]["quantity"]
    assert summary_total(client, "stt_words") == 0  # nothing stored


@pytest.mark.parametrize(
    "query",
    [
        "events_offset=" + "9" * 5000,
        "events_offset=1e3",
        "events_limit=-1",
        "events_offset=2000000000",
    ],
)
def test_query_numbers_out_of_range_answer_422(client, query):
    response = client.get(
        f"/api/v1/billing/invoices/missing?{query}", headers=bearer("org_a", "member")
    )
    assert_error(response, 422, "validation_error")
