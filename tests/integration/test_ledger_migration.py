"""Migration 0013 converts a populated ledger: every row, id and invoice link kept, the id
sequence continuing after them, keys still unique across months; and back again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from adapters.db.partitions import month_start
from adapters.db.tables import organizations, usage_events, usage_invoices
from adapters.db.uow import SqlUnitOfWorkFactory
from domain.model.metering import UsageEvent
from domain.model.plans import Metric
from entrypoints import migrate
from tests.integration.conftest import create_database, drop_database

NOW = datetime.now(UTC)
MONTHS = [datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC), month_start(NOW)]


@pytest.fixture(params=["postgres", "embedded"])
def database(request, tmp_path: Path):
    if request.param == "postgres":
        url = create_database("billing_mig")
        yield url
        drop_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'billing.db'}"


def _fill(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            organizations.insert(),
            [{"id": org, "created_at": MONTHS[0]} for org in ("org_a", "org_b")],
        )
        conn.execute(
            usage_invoices.insert(),
            [
                {
                    "id": "uinv_1",
                    "org_id": "org_a",
                    "status": "paid",
                    "period_start": MONTHS[0],
                    "period_end": MONTHS[1],
                    "total_minor": 500,
                    "currency": "usd",
                    "created_at": MONTHS[1],
                    "updated_at": MONTHS[1],
                }
            ],
        )
        rows = []
        for n in range(120):
            month = MONTHS[n % 3]
            rows.append(
                {
                    "org_id": "org_a" if n % 4 else "org_b",
                    "metric": ("stt_words", "tts_words", "queries")[n % 3],
                    "quantity": n * 7,
                    "occurred_at": month + timedelta(days=n % 20, minutes=n),
                    "received_at": month + timedelta(days=n % 20, minutes=n + 1),
                    "idempotency_key": None if n % 10 == 3 else f"key-{n}",
                    "conversation_id": f"c-{n % 5}" if n % 2 else None,
                    "invoice_id": "uinv_1" if month == MONTHS[0] and n % 4 else None,
                    "source": "consumed" if n % 10 == 3 else "recorded",
                    "entry_id": f"{1700 + n}-0" if n % 10 == 3 else None,
                }
            )
        conn.execute(usage_events.insert(), rows)
        conn.execute(text("DELETE FROM usage_events WHERE id IN (5, 6, 120)"))  # gaps


def _rows(engine) -> list[tuple]:
    columns = ", ".join(c.name for c in usage_events.c)
    with engine.connect() as conn:
        return [
            tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM usage_events ORDER BY id"))
        ]


def test_the_migration_converts_a_populated_ledger_and_back(database):
    config = migrate.alembic_config(database)
    command.upgrade(config, "0012")
    engine = create_engine(database)
    try:
        _fill(engine)
        before = _rows(engine)
        assert len(before) == 117
        migrate.upgrade(database)
        assert _rows(engine) == before  # every column of every row, ids and invoice links
        postgres = engine.dialect.name == "postgresql"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM usage_event_keys")).scalar() == 117
            marked = conn.execute(
                text("SELECT org_id, count(*) FROM usage_late_months GROUP BY org_id ORDER BY 1")
            ).all()
            if postgres:
                homes = conn.execute(
                    text(
                        "SELECT tableoid::regclass::text, count(*) FROM usage_events "
                        "GROUP BY 1 ORDER BY 1"
                    )
                ).all()
                assert [name for name, _ in homes] == [f"usage_events_{m:%Y_%m}" for m in MONTHS]
        assert [org for org, _ in marked] == ["org_a", "org_b"]
        uow = SqlUnitOfWorkFactory(engine)
        with uow() as u:  # a key stored before the migration, sent again in another month
            again = UsageEvent("org_a", Metric.STT_WORDS, 1, NOW, "key-9", NOW)
            assert u.usage_events.add_if_absent([again]) == []
            new = u.usage_events.add_if_absent(
                [UsageEvent("org_a", Metric.STT_WORDS, 1, NOW, "after", NOW)]
            )
            u.commit()
        with engine.connect() as conn:  # the sequence continues after every old id
            new_id = conn.execute(
                text("SELECT id FROM usage_events WHERE idempotency_key = 'after'")
            ).scalar_one()
        assert len(new) == 1 and new_id > max(row[0] for row in before)
        if postgres:  # the sequence had handed out 120 (deleted since): never again
            assert new_id > 120
        command.downgrade(config, "0012")
        after_down = _rows(engine)
        assert after_down[:-1] == before and after_down[-1][0] == new_id
        with engine.begin() as conn, pytest.raises(Exception, match=r"(?i)unique"):
            conn.execute(
                usage_events.insert().values(
                    org_id="org_a",
                    metric="stt_words",
                    quantity=1,
                    occurred_at=NOW,
                    received_at=NOW,
                    idempotency_key="key-9",
                    source="recorded",
                )
            )
    finally:
        engine.dispose()
