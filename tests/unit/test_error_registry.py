"""The error registry is the one map from codes to statuses: every DomainError is in it, answers
through the error handler with its status in the shared shape, and the README's table is the
registry's."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import domain
from domain.errors import DomainError, QuotaExceeded
from domain.model.plans import Metric
from domain.model.quotas import QuotaDecision
from entrypoints.api import error_codes
from entrypoints.api.app import create_app
from tests.unit.fakes import fake_ports
from tests.unit.test_http_errors import assert_error

README = Path(__file__).resolve().parents[2] / "README.md"


def domain_errors() -> list[type[DomainError]]:
    """Every DomainError subclass the domain defines, wherever it is defined."""
    for module in pkgutil.walk_packages(domain.__path__, "domain."):
        importlib.import_module(module.name)
    found: list[type[DomainError]] = []
    pending = list(DomainError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("| status | codes |")
    return text[start : text.index("\n\n", start) + 1]


def readme_statuses() -> dict[str, int]:
    """Each code of the README's table with the status of its row."""
    found: dict[str, int] = {}
    for row in readme_table().splitlines()[2:]:
        status, codes = row.strip("|").split("|", 1)
        for code in codes.split("`")[1::2]:
            if code.islower() and " " not in code and code.replace("_", "").isalpha():
                found.setdefault(code, int(status))
    return found


ERRORS = domain_errors()


def test_the_walk_finds_the_domain_errors():
    assert len(ERRORS) >= 28 and QuotaExceeded in ERRORS


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_domain_error_has_its_own_status(cls):
    entry = error_codes.DOMAIN.get(cls)
    assert entry is not None, f"{cls.__name__} is missing from the error registry"
    assert entry.code == cls.code and 400 <= entry.status < 600


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_domain_error_is_in_the_readme_with_its_status(cls):
    assert readme_statuses().get(cls.code) == error_codes.DOMAIN[cls].status


def test_one_code_has_one_status():
    statuses: dict[str, set[int]] = {}
    for entry in [*error_codes.DOMAIN.values(), *error_codes.EDGE.values()]:
        statuses.setdefault(entry.code, set()).add(entry.status)
    assert {code: found for code, found in statuses.items() if len(found) > 1} == {}


def test_every_documented_error_code_is_registered_under_its_status(client):
    registered = {entry.code: entry.status for entry in error_codes.all_codes()}
    for path, operations in client.get("/api/openapi.json").get_json()["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):  # the path's parameters
                continue
            for status, response in operation.get("responses", {}).items():
                text = response.get("description", "")
                if not text.startswith("Error codes: "):
                    continue
                for code in text.removeprefix("Error codes: ").split(", "):
                    assert registered.get(code.strip("`")) == int(status), (method, path, code)


def test_the_readme_table_is_the_registrys():
    assert readme_table() == error_codes.readme_table()


def test_every_edge_code_is_in_the_readme_with_its_status():
    documented = readme_statuses()
    for entry in error_codes.EDGE.values():
        assert documented.get(entry.code) == entry.status, entry.code
    for status, code in error_codes.HTTP_DEFAULTS.items():
        assert error_codes.EDGE[code].status == status


@pytest.fixture
def raising_app(settings):
    app = create_app(settings, **fake_ports())

    # Under the quota paths, which the per-IP limiter (and its own headers) leaves alone.
    @app.route("/api/v1/quota/raise/<name>")
    def raise_it(name):
        cls = next(cls for cls in ERRORS if cls.__name__ == name)
        if cls is QuotaExceeded:
            raise QuotaDecision(
                False, Metric.QUERIES, 100, 100, datetime(2026, 12, 1, tzinfo=UTC)
            ).refusal()
        raise cls(f"{cls.code} happened", detail="kept", empty=None)

    return app


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_domain_error_answers_in_the_shared_shape(raising_app, cls):
    response = raising_app.test_client().get(f"/api/v1/quota/raise/{cls.__name__}")
    body = assert_error(response, error_codes.DOMAIN[cls].status, cls.code)
    if cls is not QuotaExceeded:
        assert body == {
            "code": cls.code,
            "message": f"{cls.code} happened",
            "status": error_codes.DOMAIN[cls].status,
            "detail": "kept",
        }


def test_a_quota_refusal_answers_the_documented_body_and_headers(raising_app):
    response = raising_app.test_client().get("/api/v1/quota/raise/QuotaExceeded")
    assert response.get_json() == {
        "code": "quota_exceeded",
        "status": 429,
        "allowed": False,
        "metric": "queries",
        "used": 100,
        "limit": 100,
        "remaining": 0,
        "resets_at": "2026-12-01T00:00:00+00:00",
        "duplicate": False,
        "message": "the plan's queries quota is used up (100 of 100)",
    }
    assert response.headers["Retry-After"] == response.headers["RateLimit-Reset"]
    assert response.headers["RateLimit-Limit"] == "100"
    assert response.headers["RateLimit-Remaining"] == "0"


def test_a_gauge_refusal_says_it_never_resets():
    refusal = QuotaDecision(False, Metric.DOCUMENTS, 5, 5, None).refusal()
    assert refusal.public_details()["resets_at"] is None
