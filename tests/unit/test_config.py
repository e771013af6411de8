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


@pytest.mark.parametrize(
    "url", ["postgres://u:p@db:5432/billing", "postgresql://u:p@db:5432/billing"]
)
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
        make(
            app_env="production",
            jwt_secret_key="k" * 64,
            database_url="sqlite:///x.db",
            redis_url="redis://r",
            stripe_webhook_secret="whsec_1",
        ).check()


def test_production_starts_with_everything_set():
    make(
        app_env="production",
        jwt_secret_key="k" * 64,
        database_url="postgres://u@db/b",
        redis_url="redis://r:6379/0",
        stripe_webhook_secret="whsec_1",
    ).check()


def test_several_webhook_secrets_for_rotation():
    assert make(stripe_webhook_secret="whsec_a, whsec_b,").webhook_secrets == ["whsec_a", "whsec_b"]


def test_create_app_refuses_production_without_settings(monkeypatch):
    from entrypoints.api.app import create_app

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    with pytest.raises(ConfigError):
        create_app()


@pytest.mark.parametrize("key", ["sk_test_abc", "sk_live_abc", "rk_test_abc", "rk_live_abc"])
def test_stripe_keys_of_the_right_kind_are_accepted(key):
    assert make(stripe_secret_key=key).stripe_secret_key == key


@pytest.mark.parametrize("key", ["pk_test_abc", "whsec_abc", "sk_abc", "garbage"])
def test_a_wrong_stripe_key_is_a_startup_error(monkeypatch, key):
    from entrypoints.config import load_settings

    monkeypatch.setenv("STRIPE_SECRET_KEY", key)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "STRIPE_SECRET_KEY" in str(info.value) and "sk_test_" in str(info.value)
    assert key not in str(info.value)


def test_price_ids_and_their_older_names(monkeypatch):
    monkeypatch.setenv("STRIPE_PRICE_BASIC_SUB", "price_basic")
    monkeypatch.setenv("STRIPE_PRICE_PRO_SUB", "price_pro")
    monkeypatch.setenv("STRIPE_WHITE_LABEL_PRICE_ID", "price_wl")
    assert make().price_ids == {
        "starter": "price_basic",
        "pro": "price_pro",
        "white_label": "price_wl",
    }


def test_redirect_origins_default_to_the_configured_urls():
    settings = make(
        stripe_success_url="https://app.example.com/ok?x=1",
        stripe_cancel_url="https://app.example.com:8443/no",
    )
    assert settings.redirect_origins == ["https://app.example.com", "https://app.example.com:8443"]
    explicit = make(allowed_redirect_origins="https://a.example, http://localhost:3000")
    assert explicit.redirect_origins == ["https://a.example", "http://localhost:3000"]


def test_unknown_default_tier_is_a_startup_error(monkeypatch):
    from entrypoints.config import load_settings

    monkeypatch.setenv("BILLING_DEFAULT_TIER", "platinum")
    with pytest.raises(ConfigError, match="BILLING_DEFAULT_TIER"):
        load_settings(_env_file=None)
