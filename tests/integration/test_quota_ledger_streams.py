"""The ledger's streams in Redis, flushed into Postgres: one stream per organization (their ids
collide across streams, the ledger's do not), and the single `quota:ledger` stream an earlier
version wrote, drained after an upgrade with its duplicate refunds applied once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from adapters.redis_ledger import LEGACY_STREAM, stream_key
from domain.services.quotas import flush_ledger
from entrypoints.api.app import create_app
from tests.helpers import bearer

CONSUME = "/api/v1/quota/consume"


@pytest.fixture(params=["redis", "cluster"])
def service(request, settings, clean_db, clean_redis):
    """The service on Postgres, its counters on the test's Redis or on its Redis Cluster."""
    counters = clean_redis
    if request.param == "cluster":
        counters = request.getfixturevalue("clean_cluster")
        url = request.getfixturevalue("redis_cluster").url
        settings = settings.model_copy(update={"quota_redis_url": url})
    app = create_app(settings.model_copy(update={"rate_limit_enabled": False}))
    try:
        yield app, counters
    finally:
        app.extensions["billing"].engine.dispose()


def ledger(engine) -> list[tuple[str, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT org_id, quantity, entry_id FROM usage_events ORDER BY org_id, id")
        ).all()
    return [(r[0], int(r[1]), r[2]) for r in rows]


def consume(client, org: str, amount: int, key: str | None = None) -> int:
    body = {"metric": "queries", "amount": amount, **({"idempotency_key": key} if key else {})}
    response = client.post(CONSUME, json=body, headers=bearer(org, "service"))
    assert response.status_code == 200, response.get_json()
    return int(response.get_json()["used"])


def test_entries_with_the_same_stream_id_in_two_organizations_are_both_stored(service, clean_db):
    app, counters = service
    client = app.test_client()
    consume(client, "org_s1", 1)
    consume(client, "org_s2", 1)
    flush_ledger(app.extensions["billing"].quota)
    # Both streams' last id set ahead to the same one: their next entries get the same id.
    ahead = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp() * 1000)
    for org in ("org_s1", "org_s2"):
        added = counters.xadd(stream_key(org), {"placeholder": "1"}, id=f"{ahead}-0")
        counters.xdel(stream_key(org), added)
    consume(client, "org_s1", 3)
    consume(client, "org_s2", 4)
    ids = [counters.xrange(stream_key(o))[0][0] for o in ("org_s1", "org_s2")]
    assert ids[0] == ids[1] == f"{ahead}-1".encode()
    assert flush_ledger(app.extensions["billing"].quota) == 2
    rows = ledger(clean_db)
    assert [(org, q) for org, q, _ in rows] == [
        ("org_s1", 1),
        ("org_s1", 3),
        ("org_s2", 1),
        ("org_s2", 4),
    ]
    assert len({entry for _, _, entry in rows}) == 4
    assert flush_ledger(app.extensions["billing"].quota) == 0


def test_the_earlier_single_stream_is_drained_after_an_upgrade(settings, clean_db, clean_redis):
    """What an earlier version left in `quota:ledger` (on the single Redis it ran on): stored
    once, a duplicate's amount given back to its counter once, the stream emptied."""
    app = create_app(settings.model_copy(update={"rate_limit_enabled": False}))
    client = app.test_client()
    quota = app.extensions["billing"].quota
    try:
        assert consume(client, "org_old", 2, key="seen") == 2
        flush_ledger(quota)
        counter = "quota:{org_old}:c:queries"
        period = clean_redis.hget(counter, "period").decode()
        at = str(int(datetime.now(UTC).timestamp() * 1000))
        # The earlier consume script: the counter and the single stream, atomically.
        for amount, key in ((5, ""), (3, "seen")):
            clean_redis.hincrby(counter, "used", amount)
            clean_redis.xadd(
                LEGACY_STREAM,
                {"org": "org_old", "metric": "queries", "amount": str(amount), "at": at}
                | {"idem": key, "period": period},
            )
        assert int(clean_redis.hget(counter, "used")) == 10
        assert flush_ledger(quota) == 2
        assert sum(q for org, q, _ in ledger(clean_db) if org == "org_old") == 7
        assert int(clean_redis.hget(counter, "used")) == 7  # the duplicate given back, once
        assert clean_redis.xlen(LEGACY_STREAM) == 0
        assert flush_ledger(quota) == 0
        assert consume(client, "org_old", 1) == 8
    finally:
        app.extensions["billing"].engine.dispose()


def test_the_backlog_a_scrape_reads_counts_every_organization_s_stream(service):
    app, _ = service
    client = app.test_client()
    counter = app.extensions["billing"].quota.counter
    before = int(datetime.now(UTC).timestamp() * 1000)
    for org, amount in (("org_b1", 2), ("org_b2", 1), ("org_b2", 1), ("org_b3", 4)):
        consume(client, org, amount)
    pending, oldest = counter.ledger_backlog()
    assert pending == 4 and oldest is not None and oldest >= before - 1000
    flush_ledger(app.extensions["billing"].quota)
    assert counter.ledger_backlog() == (0, None)
