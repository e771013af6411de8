"""flask billing archive-usage: invoiced months archived to a verified file and dropped, a
month with unbilled usage refused; invoices, gauges and duplicates keep working after."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from adapters.db.partitions import add_months, create_month, month_start, partition_name
from domain.model.invoicing import InvoiceLine, InvoiceStatus, UsageInvoice
from domain.model.metering import UsageEvent, UsageSource
from domain.model.money import Money
from domain.model.organizations import Organization
from domain.model.plans import Metric
from tests.helpers import make_token
from tests.integration.conftest import backend_settings

NOW = datetime.now(UTC)
OLD = add_months(month_start(NOW), -4)  # invoiced: archived
UNBILLED = add_months(month_start(NOW), -3)  # holds unbilled usage: refused


@pytest.fixture(params=["postgres", "embedded"])
def app(request, tmp_path):
    from entrypoints.api.app import create_app

    settings = backend_settings(request, tmp_path)
    app = create_app(settings)
    container = app.extensions["billing"]
    made = []
    if request.param == "postgres":
        with container.engine.begin() as conn:
            for month in (OLD, UNBILLED):
                if create_month(conn, month):
                    made.append(month)
    try:
        yield app
    finally:
        if request.param == "postgres":
            with container.engine.begin() as conn:
                for month in made:
                    conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(month)}"))
        container.engine.dispose()


def _ledger(container) -> None:
    def at(month, hours):
        return month + timedelta(days=3, hours=hours)

    def entry(key, month, metric=Metric.STT_WORDS, quantity=1000, **more):
        return UsageEvent(
            "org_a", metric, quantity, at(month, len(key)), key, at(month, 30), "c", **more
        )

    with container.uow() as uow:
        uow.organizations.add_if_absent(Organization.new("org_a", OLD))
        uow.usage_events.add_if_absent(
            [
                entry("old-1", OLD),
                entry("old-22", OLD),
                entry("old-333", OLD),
                entry(
                    "doc-1", OLD, Metric.DOCUMENTS, 2, source=UsageSource.CONSUMED, entry_id="9-0"
                ),
                entry("q-1", OLD, Metric.QUERIES, 1),
                entry("unbilled", UNBILLED),
            ]
        )
        line = InvoiceLine(Metric.STT_WORDS, 3000, Money(300, "usd"), 3, at(OLD, 5), at(OLD, 7))
        invoice = UsageInvoice(
            "uinv_old",
            "org_a",
            InvoiceStatus.PAID,
            at(OLD, 5),
            add_months(OLD, 1),
            Money(300, "usd"),
            add_months(OLD, 1),
            add_months(OLD, 1),
            lines=[line],
        )
        uow.usage_invoices.add(invoice)
        linked = uow.usage_events.link_unbilled(
            "org_a", add_months(OLD, 1), [Metric.STT_WORDS], "uinv_old"
        )
        assert linked == 3
        uow.commit()


def _count(container, month) -> int:
    with container.engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM usage_events WHERE occurred_at >= :a AND occurred_at < :b"),
            {"a": month, "b": add_months(month, 1)},
        ).scalar_one()


@pytest.mark.timeout(120)
def test_archive_usage_archives_invoiced_months_and_refuses_unbilled_ones(app, tmp_path):
    container = app.extensions["billing"]
    _ledger(container)
    target = tmp_path / "archive"
    cli = app.test_cli_runner()
    args = ["billing", "archive-usage", "--older-than", "2", "--to", str(target)]
    dry = cli.invoke(args=[*args, "--dry-run"])
    assert dry.exit_code == 1, dry.output
    assert f"{OLD:%Y-%m}  would archive 5 entries" in dry.output
    assert f"{UNBILLED:%Y-%m}  refused: 1 unbilled entries" in dry.output
    assert not target.exists() and _count(container, OLD) == 5

    result = cli.invoke(args=args)
    assert result.exit_code == 1, result.output
    path = target / f"usage_events_{OLD:%Y_%m}.jsonl.gz"
    assert f"{OLD:%Y-%m}  archived 5 entries to {path}" in result.output
    assert f"{UNBILLED:%Y-%m}  refused: 1 unbilled entries" in result.output
    with gzip.open(path, "rt") as archived:
        entries = [json.loads(line) for line in archived]
    assert sorted(e["idempotency_key"] for e in entries) == [
        "doc-1",
        "old-1",
        "old-22",
        "old-333",
        "q-1",
    ]
    assert sum(e["quantity"] for e in entries if e["invoice_id"] == "uinv_old") == 3000
    assert _count(container, OLD) == 0 and _count(container, UNBILLED) == 1
    with container.engine.connect() as conn:
        recorded = conn.execute(text("SELECT sha256, entries FROM usage_archives")).one()
        if conn.dialect.name == "postgresql":
            assert (
                conn.execute(text(f"SELECT to_regclass('{partition_name(OLD)}')")).scalar() is None
            )
            assert conn.execute(text(f"SELECT to_regclass('{partition_name(UNBILLED)}')")).scalar()
    assert tuple(recorded) == (hashlib.sha256(path.read_bytes()).hexdigest(), 5)

    with container.uow() as uow:  # the gauge still counts what it archived; keys still taken
        assert uow.usage_events.total("org_a", Metric.DOCUMENTS, None, None) == 2
        again = UsageEvent("org_a", Metric.STT_WORDS, 5, NOW, "old-1", NOW)
        assert uow.usage_events.add_if_absent([again]) == []

    headers = {"Authorization": f"Bearer {make_token('org_a', 'owner')}"}
    client = app.test_client()
    detail = client.get("/api/v1/billing/invoices/uinv_old", headers=headers)
    assert detail.status_code == 200, detail.json
    assert detail.json["archived_months"] == [f"{OLD:%Y-%m}"]
    assert [(line["quantity"], line["events"]) for line in detail.json["lines"]] == [(3000, [])]
    csv = client.get("/api/v1/billing/invoices/uinv_old/events.csv", headers=headers)
    assert csv.status_code == 410
    assert csv.json["code"] == "usage_archived" and f"{OLD:%Y-%m}" in csv.json["message"]

    second = cli.invoke(args=args)  # archived months are done; the refused one still is
    assert second.exit_code == 1 and "archived" not in second.output
    assert f"{UNBILLED:%Y-%m}  refused" in second.output
    assert cli.invoke(args=["billing", "archive-usage", "--older-than", "1"]).exit_code == 2
