"""Everything at once, on Postgres + Redis and on the embedded default (SQLite + the in-process
Redis): invoicers (the endpoint and the monthly run the CLI drives), ingesters (keys repeated
across batches and threads, late events dated in the closed month) and quota consumers (keys
shared with recorded events), long enough to interleave. Then an audit of every ledger entry,
line and Stripe call."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.errors import QuotaUnavailable
from domain.model.customers import StripeCustomer
from domain.model.invoicing import UsagePrice
from domain.model.organizations import Organization
from domain.model.quotas import calendar_month
from domain.services.monthly_invoicing import organizations_to_invoice, run_invoicing
from domain.services.quotas import flush_ledger
from tests.helpers import bearer
from tests.integration.conftest import backend_settings
from tests.integration.test_ledger_invariant import assert_invariant
from tests.integration.webhook_support import make_stripe, webhook_app

ORGS = ("org_i1", "org_i2")
PRICE = UsagePrice(Decimal("1.00"))
ROUNDS = 100  # per worker thread; each round is one request


@pytest.fixture(params=["postgres", "embedded"])
def backend(request, tmp_path) -> Iterator[tuple[Any, Any]]:
    stripe = make_stripe()
    # Per-organization rate limits off (they would turn most of the load into 429s), a patient
    # Redis timeout: this test is about what happens at once, not about latency.
    app = webhook_app(backend_settings(request, tmp_path), stripe)
    container = app.extensions["billing"]
    now = datetime.now(UTC)
    with container.uow() as uow:
        for org in ORGS:
            uow.organizations.add_if_absent(Organization.new(org, now))
            cus = stripe.create_customer(org, None, None, idempotency_key=f"c:{org}")
            uow.customers.add_if_absent(StripeCustomer(org, cus, None, None, now))
        uow.commit()
    try:
        yield app, stripe
    finally:
        container.engine.dispose()


def _late(now: datetime) -> datetime:
    """A moment in the month before this one: usage that arrives after its month closed."""
    start = calendar_month(now)[0]
    return start - timedelta(days=random.randint(1, 27), seconds=random.randint(0, 86_399))


def _batch(now: datetime) -> list[dict[str, Any]]:
    events = []
    for _ in range(random.randint(1, 60)):
        at = _late(now) if random.random() < 0.2 else now - timedelta(minutes=random.randint(0, 30))
        events.append(
            {
                "metric": random.choice(["stt_words", "tts_words"]),
                "quantity": random.randint(0, 5000),
                "idempotency_key": f"k{random.randrange(1500)}",  # repeats across batches
                "occurred_at": at.isoformat(),
            }
        )
    return events


def test_invoicing_ingestion_and_quota_at_once_bill_every_entry_once(backend) -> None:
    app, stripe = backend
    container = app.extensions["billing"]
    statuses: Counter[int] = Counter()
    calls: Counter[str] = Counter()
    failures: list[str] = []
    accepted: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def note(kind: str, response: Any) -> None:
        with lock:
            statuses[response.status_code] += 1
            calls[kind] += 1
            if response.status_code >= 500:
                failures.append(f"{kind}: {response.status_code} {response.get_data(True)[:300]}")

    def ingest(org: str) -> None:
        client = app.test_client()
        for _ in range(ROUNDS):
            response = client.post(
                "/api/v1/usage/events",
                json={"events": _batch(datetime.now(UTC))},
                headers=bearer(org, "service"),
            )
            note("ingest", response)
            if response.status_code == 200:
                with lock:
                    accepted[org] += response.get_json()["accepted"]

    def consume(org: str) -> None:
        client = app.test_client()
        for _ in range(ROUNDS):
            metric = random.choice(["stt_words", "tts_words", "queries"])
            body = {
                "metric": metric,
                "amount": random.randint(1, 5) if metric == "queries" else random.randint(1, 3000),
            }
            if random.random() < 0.5:  # check first with the key a recorded event may carry
                body["idempotency_key"] = f"k{random.randrange(1500)}"
            note(
                "consume",
                client.post("/api/v1/quota/consume", json=body, headers=bearer(org, "service")),
            )

    def invoice_endpoint(org: str) -> None:
        client = app.test_client()
        for _ in range(ROUNDS // 4):
            note(
                "endpoint",
                client.post("/api/v1/billing/generate-usage-invoice", headers=bearer(org)),
            )
            time.sleep(random.uniform(0, 0.05))

    def monthly_run() -> None:
        for _ in range(ROUNDS // 8):
            cutoff = calendar_month(datetime.now(UTC))[0]
            orgs = organizations_to_invoice(container.invoicing, cutoff)
            summary = run_invoicing(
                container.invoicing, cutoff, orgs, False, actor="cli:run-invoicing"
            )
            with lock:
                calls["monthly_run"] += 1
                failures.extend(f"monthly run {o}: {e}" for o, e in summary.failures.items())
            time.sleep(random.uniform(0, 0.1))

    def flusher() -> None:  # the worker's periodic job (the embedded default flushes inline)
        while not stop.is_set():
            try:
                flush_ledger(container.quota)
            except QuotaUnavailable:  # as the job: it runs again at its next interval
                pass
            stop.wait(0.05)

    jobs: list[Callable[[], None]] = [flusher, monthly_run]
    for org in ORGS:
        jobs += [
            lambda o=org: ingest(o),
            lambda o=org: ingest(o),
            lambda o=org: consume(o),
            lambda o=org: invoice_endpoint(o),
            lambda o=org: invoice_endpoint(o),
        ]
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(job), daemon=True) for job in jobs]
    try:
        for t in threads:
            t.start()
        for t in threads[1:]:
            t.join(timeout=240)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    flush_ledger(container.quota)
    client = app.test_client()
    outcomes = set()
    for org in ORGS:  # bill what is left, then audit
        final = client.post("/api/v1/billing/generate-usage-invoice", headers=bearer(org))
        note("endpoint", final)
        assert final.status_code == 200, final.get_json()
        outcomes.add(final.get_json()["outcome"])
    assert failures == [] and not [s for s in statuses if s >= 500], failures[:5]
    report = audit(container, stripe)
    for org in ORGS:
        assert_invariant(app, org)
    report.update(calls=dict(calls), statuses=dict(statuses), accepted=dict(accepted))
    print("interleaving audit:", report)
    assert report["invoices"] >= 2 and report["billed_entries"] > 0
    assert report["recorded"] == sum(accepted.values())
    assert report["unbilled_voice"] == 0 or "below_minimum" in outcomes


def audit(container: Any, stripe: Any) -> dict[str, Any]:
    with container.engine.connect() as conn:
        entries = conn.execute(
            text("SELECT org_id, metric, quantity, invoice_id, source FROM usage_events")
        ).all()
        invoices = {
            r.id: r
            for r in conn.execute(
                text(
                    "SELECT id, org_id, status, total_minor, stripe_invoice_id FROM usage_invoices"
                )
            )
        }
        lines = conn.execute(
            text(
                "SELECT invoice_id, metric, quantity, amount_minor, event_count, "
                "stripe_invoice_item_id FROM usage_invoice_lines"
            )
        ).all()
    linked: dict[tuple[str, str], list[int]] = {}
    for e in entries:
        if e.invoice_id is not None:
            assert e.metric in ("stt_words", "tts_words")
            assert invoices[e.invoice_id].org_id == e.org_id
            linked.setdefault((e.invoice_id, e.metric), []).append(e.quantity)
    by_invoice: dict[str, list[Any]] = {}
    for line in lines:
        by_invoice.setdefault(line.invoice_id, []).append(line)
        words = linked.get((line.invoice_id, line.metric))
        assert words is not None, f"line {line} bills no entries"
        assert (line.quantity, line.event_count) == (sum(words), len(words))
        assert line.amount_minor == PRICE.charge(sum(words)).amount_minor
    assert set(linked) == {(line.invoice_id, line.metric) for line in lines}  # no entry lost
    stripe_by_local = {inv["metadata"]["usage_invoice_id"]: inv for inv in stripe.invoices.values()}
    assert len(stripe_by_local) == len(stripe.invoices)  # one Stripe invoice per local one
    for invoice_id, invoice in invoices.items():
        mine = by_invoice[invoice_id]
        assert invoice.total_minor == sum(line.amount_minor for line in mine)
        assert invoice.status == "open", invoice
        remote = stripe_by_local[invoice_id]
        assert remote["id"] == invoice.stripe_invoice_id and remote["status"] == "open"
        items = sorted((i["metadata"]["metric"], i["amount"]) for i in remote["lines"]["data"])
        assert items == sorted((line.metric, line.amount_minor) for line in mine)
    assert set(stripe_by_local) == set(invoices)
    ops = Counter(op for op, _ in stripe.calls)
    # One process at a time talks to Stripe about one invoice: no step is repeated.
    assert ops["invoices.create"] == len(invoices) == ops["invoices.finalize"]
    assert ops["invoiceitems.create"] == len(lines)
    return {
        "entries": len(entries),
        "invoices": len(invoices),
        "lines": len(lines),
        "billed_entries": sum(len(w) for w in linked.values()),
        "unbilled_voice": sum(
            1 for e in entries if e.invoice_id is None and e.metric in ("stt_words", "tts_words")
        ),
        "recorded": sum(1 for e in entries if e.source == "recorded"),
        "consumed": sum(1 for e in entries if e.source == "consumed"),
        "stripe_calls": dict(ops),
    }


def test_overlapping_batches_in_any_order_never_deadlock(backend) -> None:
    """Four clients send 500-event batches whose keys overlap, each in its own order."""
    app, _ = backend
    keys = [f"shared-{i}" for i in range(700)]
    answers: list[int] = []
    sent: set[str] = set()
    lock = threading.Lock()

    def send(seed: int) -> None:
        rng = random.Random(seed)
        client = app.test_client()
        for _ in range(6):
            chosen = rng.sample(keys, 500)  # a different order every time
            response = client.post(
                "/api/v1/usage/events",
                json={
                    "events": [
                        {"metric": "stt_words", "quantity": 1, "idempotency_key": k} for k in chosen
                    ]
                },
                headers=bearer(ORGS[0], "service"),
            )
            with lock:
                answers.append(response.status_code)
                sent.update(chosen)

    threads = [threading.Thread(target=send, args=(seed,), daemon=True) for seed in range(4)]
    try:
        for t in threads:
            t.start()
    finally:
        for t in threads:
            t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert answers == [200] * 24
    with app.extensions["billing"].engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one()
    assert stored == len(sent)  # each key once, however many batches carried it
