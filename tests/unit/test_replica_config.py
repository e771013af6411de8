"""DATABASE_REPLICA_URL: refused without a Postgres primary, and nothing changes without it."""

from pathlib import Path

import pytest

from entrypoints.bootstrap import bootstrap
from entrypoints.config import ConfigError, Settings, load_settings

PRIMARY = "postgresql+psycopg://u@primary:5432/billing"


def make(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, instance_path=tmp_path, **values)  # type: ignore[arg-type]


def test_a_replica_url_is_normalized_like_the_primary_one(tmp_path: Path) -> None:
    settings = make(tmp_path, database_replica_url="postgres://u@replica:5432/billing")
    assert settings.database_replica_url == "postgresql+psycopg://u@replica:5432/billing"


@pytest.mark.parametrize(
    ("primary", "replica"),
    [(None, "postgres://u@replica/billing"), (PRIMARY, "sqlite:///replica.db")],
)
def test_a_replica_needs_postgres_on_both_sides(
    tmp_path: Path, primary: str | None, replica: str
) -> None:
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URL"):
        make(tmp_path, database_url=primary, database_replica_url=replica).check()


def test_a_negative_max_lag_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_REPLICA_MAX_LAG_S", "-1")
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_MAX_LAG_S"):
        load_settings(_env_file=None, instance_path=tmp_path)


def test_without_a_replica_every_read_is_the_primarys(tmp_path: Path) -> None:
    container = bootstrap(make(tmp_path, database_url=PRIMARY, redis_url="redis://r:6379/0"))
    assert container.reads is None
    assert container.uow.on_commit is None  # type: ignore[attr-defined]
    assert container.analytics.replica is None  # type: ignore[union-attr]


def test_the_embedded_default_ignores_a_replica_url(tmp_path: Path) -> None:
    container = bootstrap(make(tmp_path, database_replica_url=PRIMARY))
    assert container.settings.embedded and container.reads is None


def test_with_a_replica_analytics_are_routed(tmp_path: Path) -> None:
    settings = make(
        tmp_path,
        database_url=PRIMARY,
        database_replica_url="postgresql+psycopg://u@replica:5432/billing",
        database_replica_max_lag_s=2.5,
        redis_url="redis://r:6379/0",
    )
    container = bootstrap(settings)
    assert container.reads is not None and container.reads.max_lag_s == 2.5
    assert container.reads.marks.ttl_s == 63  # the lag, rounded up, and a minute
    assert container.analytics.replica is container.reads  # type: ignore[union-attr]
    assert str(container.reads.replica.url).endswith("@replica:5432/billing")
