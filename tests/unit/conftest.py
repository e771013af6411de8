from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from entrypoints.api.app import create_app
from entrypoints.config import Settings
from tests.helpers import TEST_JWT_SECRET
from tests.unit.fakes import fake_ports


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, app_env="test", instance_path=tmp_path / "instance",
                    jwt_secret_key=TEST_JWT_SECRET, max_content_length=64 * 1024)


@pytest.fixture
def ports() -> dict[str, Any]:
    return fake_ports()


@pytest.fixture
def app(settings: Settings, ports: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(settings, **ports)
    app.config["TESTING"] = True
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
