"""Usage invoicing on the real Postgres (Stripe faked): exactly once, resumable, by month."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from domain.errors import PaymentProviderUnavailable
from domain.model.customers import StripeCustomer
from domain.model.metering import UsageEvent
from domain.model.organizations import Organization
from domain.model.plans import Metric
from domain.services.invoicing import Outcome, invoice_unbilled_usage
from domain.services.monthly_invoicing import month_cutoff, run_invoicing
from entrypoints.worker.jobs import schedule_monthly_invoicing
from tests.helpers import bearer
from tests.integration.webhook_support import drain, make_stripe, webhook_app
from tests.unit.fakes import FakeClock


def setup_org(container, stripe, org_id: str) -> None:
    now = datetime.now(UTC)
    cus = stripe.create_customer(org_id, None, None, idempotency_key=f"c:{org_id}")
    with container.uow() as uow:
        uow.organizations.add_if_absent(Organization.new(org_id, now))
        uow.customers.add_if_absent(StripeCustomer(org_id, cus, None, None, now))
        uow.commit()


def add_events(container, org_id: str, events: list[tuple[str, Metric, int, datetime]]) -> None:
    now = datetime.now(UTC)
    with container.uow() as uow:
        uow.organizations.add_if_absent(Organization.new(org_id, now))
        uow.usage_events.add_if_absent(
            [
                UsageEvent(org_id, metric, quantity, at, key, now)
                for key, metric, quantity, at in events
            ]
        )
        uow.commit()


def counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        invoices = conn.execute(text("SELECT count(*) FROM usage_invoices")).scalar_one()
        unbilled = conn.execute(
            text(
                "SELECT count(*) FROM usage_events WHERE invoice_id IS "
                "NULL AND metric IN ('stt_words', 'tts_words')"
            )
        ).scalar_one()
    return invoices, unbilled


def test_two_workers_at_once_make_one_invoice(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    container = app.extensions["billing"]
    setup_org(container, stripe, "org_race")
    at = datetime.now(UTC) - timedelta(hours=1)
    add_events(container, "org_race", [(f"k{i}", Metric.STT_WORDS, 100, at) for i in range(500)])
    results, barrier = [], threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        results.append(invoice_unbilled_usage(container.invoicing, "org_race", datetime.now(UTC)))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(4)]
    try:
        for t in threads:
            t.start()
    finally:
        for t in threads:
            t.join(timeout=60)
    outcomes = sorted(r.outcome.value for r in results)
    assert outcomes.count("invoiced") >= 1
    assert set(outcomes) <= {"invoiced", "nothing_to_bill"}
    assert counts(clean_db) == (1, 0)
    assert len(stripe.invoices) == 1
    (invoice,) = stripe.invoices.values()
    assert invoice["amount_due"] == 5000 and invoice["status"] == "open"
    container.engine.dispose()


def test_stripe_failing_before_finalization_then_retry(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    container = app.extensions["billing"]
    setup_org(container, stripe, "org_retry")
    at = datetime.now(UTC) - timedelta(hours=1)
    add_events(
        container,
        "org_retry",
        [("a", Metric.STT_WORDS, 12_345, at), ("b", Metric.TTS_WORDS, 6_789, at)],
    )
    stripe.fail_on("invoices.finalize", PaymentProviderUnavailable("Stripe is unavailable"))
    cutoff = datetime.now(UTC)
    try:
        invoice_unbilled_usage(container.invoicing, "org_retry", cutoff)
        raise AssertionError("the first run should have failed")
    except PaymentProviderUnavailable:
        pass
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT status FROM usage_invoices")).scalar_one() == "draft"
    result = invoice_unbilled_usage(container.invoicing, "org_retry", cutoff)
    assert result.outcome is Outcome.INVOICED
    assert len(stripe.invoices) == 1
    (invoice,) = stripe.invoices.values()
    items = sorted(i["amount"] for i in invoice["lines"]["data"])
    assert items == [679, 1235] and invoice["amount_due"] == 1914
    with clean_db.connect() as conn:
        lines = conn.execute(
            text("SELECT metric, quantity, amount_minor FROM usage_invoice_lines ORDER BY metric")
        ).all()
    assert [tuple(r) for r in lines] == [("stt_words", 12_345, 1235), ("tts_words", 6_789, 679)]
    container.engine.dispose()


def test_a_leap_year_billed_month_by_month(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    container = app.extensions["billing"]
    setup_org(container, stripe, "org_year")
    events, total = [], 0
    for month in range(1, 13):
        first = datetime(2028, month, 1, tzinfo=UTC)
        last_moment = datetime(2028 + (month == 12), month % 12 + 1, 1, tzinfo=UTC) - timedelta(
            milliseconds=1
        )
        assert first.month == last_moment.month
        for key, at, words in (
            (f"first-{month}", first, 1000 + month),
            (f"last-{month}", last_moment, 2000 + month),
        ):
            events.append((key, Metric.STT_WORDS, words, at))
            total += words
    assert any(e[3] == datetime(2028, 2, 29, 23, 59, 59, 999000, tzinfo=UTC) for e in events)
    add_events(container, "org_year", events)
    billed = 0
    for month in range(1, 13):
        cutoff = datetime(2028 + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        if month == 4:  # a late event for February arrives after February was invoiced
            add_events(
                container,
                "org_year",
                [("late-feb", Metric.STT_WORDS, 777, datetime(2028, 2, 10, tzinfo=UTC))],
            )
            total += 777
        result = invoice_unbilled_usage(container.invoicing, "org_year", cutoff)
        assert result.outcome is Outcome.INVOICED, month
        line = result.invoice.lines[0]
        expected = 1000 + month + 2000 + month + (777 if month == 4 else 0)
        assert line.quantity == expected, month
        assert line.event_count == (3 if month == 4 else 2)
        with container.uow() as uow:
            keys = {
                e.idempotency_key
                for e in uow.usage_events.billed_by(result.invoice.id, None, 100, 0)
            }
        assert {f"first-{month}", f"last-{month}"} <= keys
        billed += line.quantity
    assert billed == total
    assert counts(clean_db) == (12, 0)
    container.engine.dispose()


def test_the_scheduled_job_twice_for_a_closed_month(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe, clock=FakeClock(datetime(2026, 11, 1, 0, 30, tzinfo=UTC)))
    container = app.extensions["billing"]
    for org in ("org_1", "org_2", "org_3"):
        setup_org(container, stripe, org)
        add_events(
            container,
            org,
            [
                (f"{org}-a", Metric.STT_WORDS, 5000, datetime(2026, 10, 15, tzinfo=UTC)),
                (f"{org}-nov", Metric.STT_WORDS, 5000, datetime(2026, 11, 1, 0, 10, tzinfo=UTC)),
            ],
        )
    add_events(
        container, "org_nocus", [("x", Metric.TTS_WORDS, 9000, datetime(2026, 10, 20, tzinfo=UTC))]
    )
    assert schedule_monthly_invoicing(container) == 4
    drain(container)
    assert counts(clean_db) == (3, 4)  # November's 3 events wait; no customer keeps its usage
    assert schedule_monthly_invoicing(container) == 1  # only the organization without a customer
    drain(container)
    assert counts(clean_db) == (3, 4)
    assert len(stripe.invoices) == 3
    result = app.test_cli_runner().invoke(args=["billing", "run-invoicing", "--period", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "invoiced: 0" in result.output and "no_customer: 1" in result.output
    dry = app.test_cli_runner().invoke(args=["billing", "run-invoicing", "--dry-run"])
    assert "would be:" in dry.output
    container.engine.dispose()


def test_dashboard_on_the_real_stack(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    client = app.test_client()
    body = client.get("/api/v1/billing/dashboard", headers=bearer("org_dash", "member"))
    assert body.status_code == 200 and body.get_json()["plan"]["tier"] == "free"
    assert body.get_json()["usage"]["available"] is True
    app.extensions["billing"].engine.dispose()


def test_two_monthly_runs_at_once_invoice_each_organization_once(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    container = app.extensions["billing"]
    cutoff = month_cutoff(datetime.now(UTC))
    orgs = [f"org_m{i}" for i in range(5)]
    for org in orgs:
        setup_org(container, stripe, org)
        add_events(
            container,
            org,
            [
                (f"{org}-{i}", Metric.STT_WORDS, 1_000, cutoff - timedelta(days=2, minutes=i))
                for i in range(20)
            ],
        )
    summaries, barrier = [], threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        summaries.append(run_invoicing(container.invoicing, cutoff, orgs, False, "cli:test"))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(2)]
    try:
        for t in threads:
            t.start()
    finally:
        for t in threads:
            t.join(timeout=60)
    invoiced = [s.counts["invoiced"] for s in summaries]
    assert sum(invoiced) == 5, [s.line() for s in summaries]
    assert all(s.counts["failed"] == 0 for s in summaries)
    assert len(stripe.invoices) == 5 and counts(clean_db) == (5, 0)
    container.engine.dispose()
