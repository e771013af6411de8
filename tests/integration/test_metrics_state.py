"""What a scrape reads of the state, from the real Postgres, the embedded SQLite and the real
Redis: the webhook inbox by status and oldest age, usage billed vs unbilled, usage invoices,
queue depth and oldest job, and the quota ledger's flush lag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Queue

from adapters.db import tables as t
from adapters.redis_ledger import LEGACY_STREAM as LEDGER_STREAM
from adapters.state_readings import read_database, read_redis

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def as_dict(samples):
    return {(s.family, s.labels): s.value for s in samples}


@pytest.fixture(params=["clean_db", "sqlite_engine"])
def any_engine(request):
    return request.getfixturevalue(request.param)


def test_database_readings(any_engine):
    with any_engine.begin() as conn:
        conn.execute(t.organizations.insert(), [{"id": "org_m", "created_at": NOW}])
        conn.execute(
            t.usage_invoices.insert(),
            [
                {
                    "id": "inv_1",
                    "org_id": "org_m",
                    "status": "paid",
                    "period_start": NOW - timedelta(days=30),
                    "period_end": NOW,
                    "total_minor": 100,
                    "currency": "usd",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            ],
        )
        usage = [(7, "inv_1"), (5, None), (3, None)]
        conn.execute(
            t.usage_events.insert(),
            [
                {
                    "org_id": "org_m",
                    "metric": "stt_words",
                    "quantity": quantity,
                    "occurred_at": NOW,
                    "received_at": NOW,
                    "invoice_id": invoice,
                }
                for quantity, invoice in usage
            ],
        )
        inbox = [("evt_1", "pending", 90), ("evt_2", "pending", 30), ("evt_3", "processed", 500)]
        conn.execute(
            t.webhook_events.insert(),
            [
                {
                    "id": event_id,
                    "type": "invoice.paid",
                    "payload": {},
                    "status": status,
                    "received_at": NOW - timedelta(seconds=age),
                }
                for event_id, status, age in inbox
            ],
        )
    readings = as_dict(read_database(any_engine, NOW, 2_000))
    assert readings[("webhook_inbox_events", (("status", "pending"),))] == 2
    assert readings[("webhook_inbox_events", (("status", "processed"),))] == 1
    assert readings[("webhook_inbox_oldest_age_seconds", (("status", "pending"),))] == 90
    assert ("webhook_inbox_oldest_age_seconds", (("status", "processed"),)) not in readings
    billed = ("usage_quantity", (("metric", "stt_words"), ("state", "billed")))
    unbilled = ("usage_quantity", (("metric", "stt_words"), ("state", "unbilled")))
    assert (readings[billed], readings[unbilled]) == (7, 8)
    assert readings[("usage_invoices", (("status", "paid"),))] == 1


def test_redis_readings(clean_redis: redis.Redis):
    queues = {
        kind: Queue(f"billing-metrics-{kind}", connection=clean_redis)
        for kind in ("urgent", "webhooks")
    }
    for _ in range(3):
        queues["webhooks"].enqueue("builtins.print", "x")
    ledger_ms = int((NOW - timedelta(seconds=4)).timestamp() * 1000)
    clean_redis.xadd(LEDGER_STREAM, {"e": "1"}, id=f"{ledger_ms}-0")
    clean_redis.xadd(LEDGER_STREAM, {"e": "2"}, id=f"{ledger_ms + 1000}-0")
    later = datetime.now(UTC) + timedelta(seconds=60)
    readings = as_dict(read_redis(clean_redis, queues, later))
    assert readings[("queue_depth", (("queue", "webhooks"),))] == 3
    assert readings[("queue_depth", (("queue", "urgent"),))] == 0
    assert readings[("queue_oldest_job_age_seconds", (("queue", "urgent"),))] == 0
    assert readings[("queue_oldest_job_age_seconds", (("queue", "webhooks"),))] >= 60
    assert readings[("ledger_pending_entries", ())] == 2
    lag = readings[("ledger_flush_lag_seconds", ())]
    assert lag == pytest.approx((later - NOW).total_seconds() + 4, abs=0.01)
    clean_redis.delete(LEDGER_STREAM)
    drained = as_dict(read_redis(clean_redis, queues, later))
    assert drained[("ledger_flush_lag_seconds", ())] == 0
