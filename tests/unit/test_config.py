from pathlib import Path

import pytest

from entrypoints.config import ConfigError, Settings


def make(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_nothing_set_runs_on_the_embedded_default(tmp_path: Path):
    settings = make(instance_path=tmp_path)
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'billing.sqlite3'}"
    assert settings.embedded
    settings.check()  # development needs nothing


@pytest.mark.parametrize("url", ["postgres://u:p@db:5432/billing",
                                 "postgresql://u:p@db:5432/billing"])
def test_postgres_urls_are_normalized_to_psycopg3(url):
    assert make(database_url=url).sqlalchemy_url == "postgresql+psycopg://u:p@db:5432/billing"


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://x@h/db")
    monkeypatch.setenv("REDIS_URL", "redis://h:6379/0")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_123")
    settings = make()
    assert settings.database_url == "postgresql+psycopg://x@h/db"
    assert not settings.embedded
    assert settings.stripe_secret_key == "sk_test_123"


def test_dotenv_file_is_read(tmp_path: Path):
    env = tmp_path / ".env"
    env.write_text("REDIS_URL=redis://from-dotenv:6379/1\nBILLING_GRACE_DAYS=3\n")
    settings = Settings(_env_file=str(env))
    assert settings.redis_url == "redis://from-dotenv:6379/1"
    assert settings.grace_period.days == 3


def test_production_refuses_defaults_and_names_everything_missing():
    with pytest.raises(ConfigError) as info:
        make(app_env="production").check()
    message = str(info.value)
    for name in ("JWT_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "STRIPE_WEBHOOK_SECRET"):
        assert name in message


def test_production_refuses_sqlite():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        make(app_env="production", jwt_secret_key="k" * 64, database_url="sqlite:///x.db",
             redis_url="redis://r", stripe_webhook_secret="whsec_1").check()


def test_production_starts_with_everything_set():
    make(app_env="production", jwt_secret_key="k" * 64, database_url="postgres://u@db/b",
         redis_url="redis://r:6379/0", stripe_webhook_secret="whsec_1").check()


def test_several_webhook_secrets_for_rotation():
    assert make(stripe_webhook_secret="whsec_a, whsec_b,").webhook_secrets == ["whsec_a", "whsec_b"]


def test_create_app_refuses_production_without_settings(monkeypatch):
    from entrypoints.api.app import create_app

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    with pytest.raises(ConfigError):
        create_app()
