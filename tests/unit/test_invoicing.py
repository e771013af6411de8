"""Usage invoicing with the fake Stripe and in-memory ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import PaymentProviderUnavailable
from domain.model.invoicing import InvoiceStatus, UsagePrice
from domain.model.money import Money
from domain.services.invoicing import Outcome, invoice_unbilled_usage
from tests.helpers import bearer
from tests.unit.test_http_errors import assert_error

DOLLAR = UsagePrice(Decimal("1.00"))


@pytest.mark.parametrize(
    ("words", "cents"),
    [
        (1, 0),
        (999, 100),
        (1_000, 100),
        (1_001, 100),
        (1_499, 150),
        (1_500, 150),
        (123_456_789, 12_345_679),
        (5, 1),
        (4, 0),
        (0, 0),
    ],
)
def test_rounding_once_per_line_half_up(words, cents):
    assert DOLLAR.charge(words) == Money(cents, "usd")


def test_other_prices_are_decimal_too():
    assert UsagePrice(Decimal("0.35")).charge(10_001) == Money(350, "usd")  # 3.50035 → 3.50
    assert UsagePrice(Decimal("2.50"), "eur").charge(1_234) == Money(309, "eur")  # 3.085 → 3.09


@pytest.fixture
def invoicing(app):
    return app.extensions["billing"].invoicing


def record(client, *events, org="org_a"):
    body = {
        "events": [
            {
                "metric": m,
                "quantity": q,
                "idempotency_key": k,
                **({"occurred_at": at.isoformat()} if at else {}),
            }
            for k, m, q, at in events
        ]
    }
    assert (
        client.post("/api/v1/usage/events", json=body, headers=bearer(org, "service")).status_code
        == 200
    )


def customer(client, org="org_a"):
    client.post(
        "/api/v1/billing/customer",
        json={"email": "billing@example.com"},
        headers=bearer(org, "owner"),
    )


def test_generate_bills_every_unbilled_event_once(client, ports, stripe):
    customer(client)
    record(
        client,
        ("a", "stt_words", 1_250, None),
        ("b", "tts_words", 800, None),
        ("c", "stt_words", 250, None),
        ("q", "queries", 5, None),
    )
    body = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()
    assert body["outcome"] == "invoiced"
    invoice = body["invoice"]
    assert invoice["status"] == "open" and invoice["total"]["amount_minor"] == 230
    lines = {line["metric"]: line for line in invoice["lines"]}
    assert lines["stt_words"]["quantity"] == 1_500 and lines["stt_words"]["event_count"] == 2
    assert lines["stt_words"]["amount"]["amount_minor"] == 150
    assert lines["tts_words"]["amount"]["amount_minor"] == 80
    stripe_invoice = stripe.invoices[invoice["stripe_invoice_id"]]
    assert stripe_invoice["status"] == "open"
    assert sorted(item["amount"] for item in stripe_invoice["lines"]["data"]) == [80, 150]
    assert invoice["hosted_invoice_url"] == stripe_invoice["hosted_invoice_url"]
    again = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()
    assert again == {"outcome": "nothing_to_bill", "invoice": None}
    billed = [e for e in ports["uow"].store.usage_events if e.invoice_id]
    assert len(billed) == 3  # the queries event is not billed usage
    keys = [k for op, k in stripe.writes() if op.startswith("invoice")]
    assert keys == [
        f"usage-invoice:{invoice['id']}",
        f"usage-invoice-item:{invoice['id']}:stt_words",
        f"usage-invoice-item:{invoice['id']}:tts_words",
        f"usage-invoice-finalize:{invoice['id']}",
    ]


def test_an_amount_under_the_minimum_is_carried_forward(client, ports, stripe):
    customer(client)
    record(client, ("a", "stt_words", 400, None))  # $0.40 < $0.50
    body = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()
    assert body["outcome"] == "below_minimum" and stripe.invoices == {}
    record(client, ("b", "stt_words", 200, None))
    body = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()
    assert body["invoice"]["total"]["amount_minor"] == 60
    assert body["invoice"]["lines"][0]["event_count"] == 2


def test_without_a_customer_usage_stays_unbilled(client, ports, stripe):
    record(client, ("a", "stt_words", 5_000, None))
    assert_error(
        client.post("/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")),
        409,
        "customer_required",
    )
    assert all(e.invoice_id is None for e in ports["uow"].store.usage_events)
    assert stripe.invoices == {}


def test_a_stripe_failure_before_finalizing_resumes_to_one_invoice(
    invoicing, client, ports, stripe
):
    customer(client)
    record(client, ("a", "stt_words", 2_000, None), ("b", "tts_words", 3_000, None))
    stripe.fail_on("invoices.finalize", PaymentProviderUnavailable("Stripe is unavailable"))
    now = ports["clock"].now() + timedelta(minutes=1)
    with pytest.raises(PaymentProviderUnavailable):
        invoice_unbilled_usage(invoicing, "org_a", now)
    drafts = [i for i in ports["uow"].store.usage_invoices.values()]
    assert len(drafts) == 1 and drafts[0].status is InvoiceStatus.DRAFT
    result = invoice_unbilled_usage(invoicing, "org_a", now)
    assert result.outcome is Outcome.INVOICED and result.invoice.id == drafts[0].id
    assert len(stripe.invoices) == 1
    (only,) = stripe.invoices.values()
    assert only["status"] == "open" and only["amount_due"] == 500
    assert len(only["lines"]["data"]) == 2


def test_invoice_list_detail_and_tenancy(client, ports, stripe):
    customer(client)
    record(client, ("a", "stt_words", 1_000, None), ("b", "stt_words", 1_000, None))
    invoice = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()["invoice"]
    listed = client.get("/api/v1/billing/invoices", headers=bearer("org_a", "member")).get_json()
    assert [i["id"] for i in listed["invoices"]] == [invoice["id"]]
    detail = client.get(
        f"/api/v1/billing/invoices/{invoice['id']}?events_limit=1",
        headers=bearer("org_a", "member"),
    ).get_json()
    assert detail["lines"][0]["event_count"] == 2 and len(detail["lines"][0]["events"]) == 1
    second = client.get(
        f"/api/v1/billing/invoices/{invoice['id']}?events_offset=1",
        headers=bearer("org_a", "member"),
    ).get_json()["lines"][0]["events"]
    assert second[0]["idempotency_key"] != detail["lines"][0]["events"][0]["idempotency_key"]
    assert_error(
        client.get(f"/api/v1/billing/invoices/{invoice['id']}", headers=bearer("org_b", "owner")),
        404,
        "not_found",
    )
    assert client.get("/api/v1/billing/invoices", headers=bearer("org_b", "owner")).get_json() == {
        "invoices": []
    }


def test_preview_creates_nothing(client, ports, stripe):
    customer(client)
    record(client, ("a", "stt_words", 2_345, None))
    preview = client.get(
        "/api/v1/billing/invoices/preview", headers=bearer("org_a", "member")
    ).get_json()
    assert preview["outcome"] == "invoiced" and preview["total"]["amount_minor"] == 235
    assert ports["uow"].store.usage_invoices == {} and stripe.invoices == {}


def test_events_before_the_cutoff_only(invoicing, client, ports, stripe):
    customer(client)
    now = ports["clock"].now()
    record(
        client,
        ("old", "stt_words", 1_000, now - timedelta(days=20)),
        ("new", "stt_words", 1_000, now),
    )
    cutoff = datetime(2026, 11, 1, tzinfo=UTC)
    result = invoice_unbilled_usage(invoicing, "org_a", cutoff)
    assert result.invoice.lines[0].event_count == 1
    assert [e.idempotency_key for e in ports["uow"].store.usage_events if e.invoice_id] == ["old"]


def test_only_owners_generate(client):
    assert_error(
        client.post("/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "member")),
        403,
        "forbidden_role",
    )
    assert (
        client.post(
            "/api/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
        ).get_json()["outcome"]
        == "nothing_to_bill"
    )


def test_an_invoices_events_download_as_csv_summing_to_its_lines(client, ports, stripe):
    import csv
    import io

    customer(client)
    events = [("a", "stt_words", 1_200, "conv_1"), ("b", "stt_words", 800, None)]
    events.append(("c", "tts_words", 3_000, "conv_2"))
    body = [
        {"idempotency_key": k, "metric": m, "quantity": q, "conversation_id": c}
        for k, m, q, c in events
    ]
    assert (
        client.post(
            "/api/v1/usage/events", json={"events": body}, headers=bearer("org_a", "service")
        ).status_code
        == 200
    )
    invoice = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()["invoice"]
    answer = client.get(
        f"/api/v1/billing/invoices/{invoice['id']}/events.csv", headers=bearer("org_a", "member")
    )
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert f'filename="{invoice["id"]}-events.csv"' in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert sorted(r["idempotency_key"] for r in rows) == ["a", "b", "c"]
    for line in invoice["lines"]:
        billed = [r for r in rows if r["metric"] == line["metric"]]
        assert sum(int(r["quantity"]) for r in billed) == line["quantity"]
        assert len(billed) == line["event_count"]
    assert {r["conversation_id"] for r in rows} == {"conv_1", "", "conv_2"}
    assert_error(
        client.get(
            f"/api/v1/billing/invoices/{invoice['id']}/events.csv",
            headers=bearer("org_b", "owner"),
        ),
        404,
        "not_found",
    )
