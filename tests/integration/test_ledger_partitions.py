"""The ledger by month: partitions on Postgres, one key space across months on both databases,
invoicing and the summary on one partition, late usage billed once."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text

from adapters.db.engine import make_engine
from adapters.db.partitions import (
    add_months,
    create_month,
    ensure_partitions,
    month_partitions,
    month_start,
)
from adapters.db.uow import SqlUnitOfWorkFactory
from domain.errors import StorageConflict
from domain.model.invoicing import BILLED_METRICS, InvoiceStatus, UsageInvoice
from domain.model.metering import UsageEvent, UsageSource
from domain.model.money import Money
from domain.model.organizations import Organization
from domain.model.plans import Metric
from tests.integration.conftest import backend_settings

NOW = datetime.now(UTC)
THIS_MONTH = month_start(NOW)
LAST_MONTH = add_months(THIS_MONTH, -1)
NEXT_MONTH = add_months(THIS_MONTH, 1)


@pytest.fixture(params=["postgres", "embedded"])
def ledger(request, tmp_path):
    """The unit of work on the test Postgres, or on the embedded default's SQLite file."""
    settings = backend_settings(request, tmp_path)
    engine = make_engine(settings.sqlalchemy_url, pool_size=8)
    factory = SqlUnitOfWorkFactory(engine)
    with factory() as uow:
        for org in ("org_a", "org_b"):
            uow.organizations.add_if_absent(Organization.new(org, NOW))
        uow.commit()
    yield factory
    engine.dispose()


def usage(key, occurred_at, org="org_a", metric=Metric.STT_WORDS, quantity=10, received=NOW):
    return UsageEvent(org, metric, quantity, occurred_at, key, received, "c-1")


def partition(name_of: datetime) -> str:
    return f"usage_events_{name_of:%Y_%m}"


def test_events_across_three_months_land_in_their_partitions(uow_postgres, clean_db):
    with uow_postgres() as uow:
        uow.organizations.add_if_absent(Organization.new("org_a", NOW))
        uow.usage_events.add_if_absent(
            [
                usage("last", LAST_MONTH + timedelta(days=3)),
                usage("this", THIS_MONTH + timedelta(hours=1)),
                usage("next", NEXT_MONTH + timedelta(minutes=1)),  # a clock a bit ahead
                usage("ancient", datetime(2019, 5, 2, tzinfo=UTC)),  # no partition: default
            ]
        )
        uow.commit()
    with clean_db.connect() as conn:
        found = dict(
            conn.execute(
                text("SELECT idempotency_key, tableoid::regclass::text FROM usage_events")
            ).all()
        )
    assert found == {
        "last": partition(LAST_MONTH),
        "this": partition(THIS_MONTH),
        "next": partition(NEXT_MONTH),
        "ancient": "usage_events_default",
    }


def test_a_key_sent_again_in_another_month_is_a_duplicate(ledger):
    first = [usage(f"k{i}", LAST_MONTH + timedelta(days=2, minutes=i)) for i in range(30)]
    again = [replace(e, occurred_at=THIS_MONTH + timedelta(hours=2)) for e in first]
    with ledger() as uow:
        assert len(uow.usage_events.add_if_absent(first[:1])) == 1  # one row: plain INSERT
        assert len(uow.usage_events.add_if_absent(first)) == 29  # a batch: COPY on Postgres
        uow.commit()
    with ledger() as uow:
        assert uow.usage_events.add_if_absent(again[:1]) == []
        assert uow.usage_events.add_if_absent(again) == []
        other_metric = [replace(e, metric=Metric.TTS_WORDS) for e in again[:3]]
        assert len(uow.usage_events.add_if_absent(other_metric)) == 3
        uow.commit()
    consumed = replace(
        usage(None, LAST_MONTH + timedelta(days=1)), entry_id="1700-0", source=UsageSource.CONSUMED
    )
    with ledger() as uow:
        assert len(uow.usage_events.add_if_absent([consumed])) == 1
        uow.commit()
    with ledger() as uow:  # a counter entry flushed again with another month's time
        assert uow.usage_events.add_if_absent([replace(consumed, occurred_at=NOW)]) == []
        assert uow.usage_events.total("org_a", Metric.STT_WORDS, None, None) == 30 * 10 + 10


@pytest.mark.timeout(120)
def test_concurrent_writers_of_one_key_in_two_months_store_it_once(ledger):
    rounds, batch = 12, 25  # 25 rows: the COPY path on Postgres
    months = (LAST_MONTH + timedelta(days=5), THIS_MONTH + timedelta(hours=3))
    stored: list[int] = []
    errors: list[BaseException] = []

    def writer(round_no: int, which: int, start: threading.Barrier) -> None:
        size = 1 if round_no % 2 else batch
        events = [usage(f"r{round_no}-{i}", months[which]) for i in range(size)]
        try:
            start.wait(timeout=30)
            for _ in range(20):
                try:
                    with ledger() as uow:
                        kept = uow.usage_events.add_if_absent(events)
                        uow.commit()
                    stored.append(len(kept))
                    return
                except StorageConflict:
                    continue
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for round_no in range(rounds):
        start = threading.Barrier(2)
        threads = [
            threading.Thread(target=writer, args=(round_no, which, start)) for which in (0, 1)
        ]
        try:
            for t in threads:
                t.start()
        finally:
            for t in threads:
                t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
    assert errors == []
    expected = sum(1 if r % 2 else batch for r in range(rounds))
    assert sum(stored) == expected
    with ledger() as uow:
        assert uow.usage_events.total("org_a", Metric.STT_WORDS, None, None) == expected * 10


def _invoice(invoice_id: str, cutoff: datetime) -> UsageInvoice:
    return UsageInvoice(
        invoice_id,
        "org_a",
        InvoiceStatus.OPEN,
        cutoff,
        cutoff,
        Money(100, "usd"),
        cutoff,
        cutoff,
    )


def test_late_usage_of_an_invoiced_month_is_billed_once_on_the_next_invoice(ledger):
    two_ago = add_months(THIS_MONTH, -2)
    with ledger() as uow:
        uow.usage_events.add_if_absent(
            [usage("on-time", two_ago + timedelta(days=1), received=two_ago + timedelta(days=1))]
        )
        uow.usage_invoices.add(_invoice("inv_1", LAST_MONTH))  # bills two months ago
        assert uow.usage_events.link_unbilled("org_a", LAST_MONTH, BILLED_METRICS, "inv_1") == 1
        uow.commit()
    with ledger() as uow:  # arrives after its month was invoiced
        uow.usage_events.add_if_absent(
            [
                usage("late", two_ago + timedelta(days=9)),
                usage("now", LAST_MONTH + timedelta(days=1)),
            ]
        )
        uow.commit()
    with ledger() as uow:
        uow.usage_invoices.add(_invoice("inv_2", THIS_MONTH))
        assert uow.usage_events.link_unbilled("org_a", THIS_MONTH, BILLED_METRICS, "inv_2") == 2
        totals = uow.usage_events.linked_totals("inv_2")
        assert [(t.quantity, t.events) for t in totals] == [(20, 2)]
        uow.commit()
    with ledger() as uow:
        uow.usage_invoices.add(_invoice("inv_3", THIS_MONTH))
        assert uow.usage_events.link_unbilled("org_a", THIS_MONTH, BILLED_METRICS, "inv_3") == 0
        assert (
            uow.usage_events.unbilled_totals("org_a", NOW + timedelta(days=40), BILLED_METRICS)
            == []
        )


PARTITION = re.compile(r"usage_events_(?:\d{4}_\d{2}|default)\b")


def _partitions_read(engine, run) -> list[set[str]]:
    """Run `run` while capturing the ledger statements it issues; EXPLAIN each one."""
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "usage_events" in statement and "usage_late_months" not in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert captured
    plans = []
    with engine.connect() as conn:
        for statement, parameters in captured:
            plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars())
            plans.append(set(PARTITION.findall(plan)))
    return plans


def test_invoicing_and_the_summary_read_one_partition(uow_postgres, clean_db):
    uow = uow_postgres
    with uow() as u:
        u.organizations.add_if_absent(Organization.new("org_a", NOW))
        for month in (add_months(THIS_MONTH, -2), LAST_MONTH, THIS_MONTH):
            u.usage_events.add_if_absent(
                [
                    usage(
                        f"{month:%m}-{i}",
                        month + timedelta(hours=i),
                        received=month + timedelta(hours=i),
                    )
                    for i in range(5)
                ]
            )
        u.usage_invoices.add(_invoice("inv_prev", LAST_MONTH))
        u.usage_events.link_unbilled("org_a", LAST_MONTH, BILLED_METRICS, "inv_prev")
        u.commit()
    with clean_db.begin() as conn:
        conn.execute(text("ANALYZE usage_events"))

    def invoice_last_month() -> None:
        with uow() as u:
            u.usage_events.unbilled_totals("org_a", THIS_MONTH, BILLED_METRICS)
            u.usage_invoices.add(_invoice("inv_new", THIS_MONTH))
            assert u.usage_events.link_unbilled("org_a", THIS_MONTH, BILLED_METRICS, "inv_new") == 5
            assert [t.events for t in u.usage_events.linked_totals("inv_new")] == [5]
            u.rollback()

    plans = _partitions_read(clean_db, invoice_last_month)
    assert len(plans) == 3  # the preview's totals, the link, the linked totals
    assert plans == [{partition(LAST_MONTH)}] * 3

    def summary() -> None:
        with uow() as u:
            found = u.usage_events.summary("org_a", LAST_MONTH, THIS_MONTH, "day")
            assert sum(t.events for t in found) == 5

    assert _partitions_read(clean_db, summary) == [{partition(LAST_MONTH)}]


def test_the_partition_job_makes_months_ahead_once_and_moves_waiting_entries(
    uow_postgres, clean_db
):
    with uow_postgres() as u:
        u.organizations.add_if_absent(Organization.new("org_a", NOW))
        u.usage_events.add_if_absent([usage("old", datetime(2019, 5, 2, tzinfo=UTC))])
        u.commit()
    later = add_months(THIS_MONTH, 5)  # the job five months from now
    made = [add_months(later, m) for m in (-1, 0, 1, 2, 3)]
    try:
        with clean_db.begin() as conn:
            assert ensure_partitions(conn, later) == [partition(m) for m in made]
        with clean_db.begin() as conn:
            assert ensure_partitions(conn, later) == []  # the second run
            assert create_month(conn, datetime(2019, 5, 1, tzinfo=UTC)) is True
            where = conn.execute(
                text(
                    "SELECT tableoid::regclass::text FROM usage_events WHERE idempotency_key='old'"
                )
            ).scalar_one()
        assert where == "usage_events_2019_05"
        with uow_postgres() as u:  # still one key space
            assert u.usage_events.add_if_absent([usage("old", NOW)]) == []
    finally:
        with clean_db.begin() as conn:
            for month in [*made, datetime(2019, 5, 1, tzinfo=UTC)]:
                conn.execute(text(f"DROP TABLE IF EXISTS {partition(month)}"))


def test_the_scheduled_job_finds_the_months_migrate_made(app):
    from entrypoints.worker.jobs import create_usage_partitions

    container = app.extensions["billing"]
    assert create_usage_partitions(container) == []  # migrate made them; nothing twice
    with container.engine.connect() as conn:
        months = month_partitions(conn)
    assert {add_months(THIS_MONTH, m) for m in (-1, 0, 1, 2, 3)} <= set(months)
