"""Integration fixtures: a fresh, Alembic-migrated Postgres database and a real Redis.

If either service cannot be reached the tests fail (they are never skipped).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine, create_engine, make_url, text

from adapters.db.engine import make_engine
from adapters.db.tables import metadata
from adapters.db.uow import SqlUnitOfWorkFactory
from entrypoints import migrate
from entrypoints.config import Settings
from tests.helpers import TEST_JWT_SECRET
from tests.integration.redis_cluster import clean_cluster, redis_cluster  # noqa: F401

ADMIN_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def _admin_engine() -> Engine:
    return create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )


def create_database(prefix: str = "billing_it") -> str:
    """A new empty database on the test server; answers its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"Postgres is not reachable at {ADMIN_URL}: {exc}. Start it (see README) "
            "or set TEST_DATABASE_URL.",
            pytrace=False,
        )
    finally:
        admin.dispose()
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = create_database()
    migrate.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=10)
    yield engine
    engine.dispose()


@pytest.fixture
def clean_db(engine: Engine) -> Engine:
    """Every table emptied before the test."""
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture
def uow(clean_db: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(clean_db)


@pytest.fixture
def uow_postgres(clean_db: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(clean_db)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """The embedded default's database: a SQLite file, migrated with Alembic."""
    url = f"sqlite:///{tmp_path / 'billing.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_uow(sqlite_engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(sqlite_engine)


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL}: {exc}. Start it (see README) or "
            "set TEST_REDIS_URL.",
            pytrace=False,
        )
    yield client
    client.close()


@pytest.fixture
def clean_redis(redis_client: redis.Redis) -> redis.Redis:
    redis_client.flushdb()
    return redis_client


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        app_env="test",
        database_url=database_url,
        redis_url=REDIS_URL,
        jwt_secret_key=TEST_JWT_SECRET,
        instance_path=tmp_path / "instance",
    )


@pytest.fixture
def app(settings: Settings, clean_db: Engine, clean_redis: redis.Redis) -> Iterator[Any]:
    from entrypoints.api.app import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    container = app.extensions["billing"]
    if container.engine is not None:
        container.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


# Browser tests: Debian's Chromium driven by Playwright by its path (no browser download).
CHROMIUM = next(
    (p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if Path(p).exists()),
    shutil.which("chromium") or "",
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert CHROMIUM, "Chromium is not installed: apt-get install chromium (make test does)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """For fixtures parametrized over ["postgres", "embedded"] (and "cluster": Postgres, with
    the quota counters on the test's Redis Cluster): the service's settings on the
    test Postgres and Redis (both emptied), or on the embedded default (a fresh SQLite file,
    migrated, and the in-process Redis). Rate limits are off and the Redis timeout is patient:
    these tests are about what happens at once on a loaded machine, not about speed."""
    if request.param in ("postgres", "cluster"):
        request.getfixturevalue("clean_db")
        request.getfixturevalue("clean_redis")
        settings: Settings = request.getfixturevalue("settings")
        if request.param == "cluster":  # quota counters on the test's Redis Cluster
            request.getfixturevalue("clean_cluster")
            url = request.getfixturevalue("redis_cluster").url
            settings = settings.model_copy(update={"quota_redis_url": url})
    else:
        settings = Settings(
            _env_file=None,
            app_env="test",
            jwt_secret_key=TEST_JWT_SECRET,
            instance_path=tmp_path / "instance",
        )
        settings.instance_path.mkdir(parents=True)
        migrate.upgrade(settings.sqlalchemy_url)
    return settings.model_copy(update={"rate_limit_enabled": False, "redis_timeout_ms": 5000})
