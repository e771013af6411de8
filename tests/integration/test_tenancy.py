"""Organizations are created once, even when their first calls arrive together."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from entrypoints.api.app import create_app
from tests.helpers import bearer


def test_concurrent_first_calls_create_one_organization(settings, clean_db, clean_redis):
    # Several app instances (as several gunicorn workers would be), each with its own cache.
    apps = [create_app(settings) for _ in range(4)]
    clients = [a.test_client() for a in apps]

    def call(i: int) -> int:
        response = clients[i % len(clients)].get(
            "/api/v1/billing/status", headers=bearer("org_race", "member")
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(call, range(64)))
    assert statuses == [200] * 64
    with clean_db.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM organizations WHERE id = 'org_race'"))
        assert count.scalar_one() == 1
    for a in apps:
        a.extensions["billing"].engine.dispose()


def test_status_on_the_real_stack(client):
    body = client.get("/api/v1/billing/status", headers=bearer("org_real", "owner")).get_json()
    assert body["plan"]["tier"] == "free" and body["org_id"] == "org_real"


def test_readyz_on_the_real_stack(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": True, "redis": True}


def test_readyz_answers_503_fast_when_redis_is_unreachable(settings, clean_db):
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(broken)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": True, "redis": False}
    app.extensions["billing"].engine.dispose()


def test_readyz_answers_503_when_the_database_is_unreachable(settings, clean_redis):
    broken = settings.model_copy(
        update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"}
    )
    response = create_app(broken).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": False, "redis": True}
