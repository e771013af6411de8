from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from entrypoints.api.app import create_app
from entrypoints.config import Settings
from tests.helpers import TEST_JWT_SECRET, WEBHOOK_SECRET
from tests.stripe_fake import FakeStripe, catalog_prices
from tests.unit.fakes import fake_ports

APP = "https://app.example.com"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        app_env="test",
        instance_path=tmp_path / "instance",
        jwt_secret_key=TEST_JWT_SECRET,
        max_content_length=64 * 1024,
        stripe_public_key="pk_test_123",
        stripe_success_url=f"{APP}/billing/success",
        stripe_cancel_url=f"{APP}/billing/cancel",
        allowed_redirect_origins=f"{APP}, http://localhost:3000",
        stripe_webhook_secret=WEBHOOK_SECRET,
    )


@pytest.fixture
def stripe() -> FakeStripe:
    """The fake Stripe account, with the default catalog's prices under their lookup keys."""
    fake = FakeStripe()
    fake.price_ids = catalog_prices(fake)  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def ports(stripe: FakeStripe) -> dict[str, Any]:
    return fake_ports(gateway=stripe)


@pytest.fixture
def app(settings: Settings, ports: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(settings, **ports)
    app.config["TESTING"] = True
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def real_time(ports: dict[str, Any]) -> None:
    """For tests that sign webhooks as Stripe does (now): the fake clock starts at now too."""
    ports["clock"].set(datetime.now(UTC))
