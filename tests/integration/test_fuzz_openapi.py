"""schemathesis over the whole OpenAPI document, as two tenants and a platform admin: no server
error, answers match their documented status codes, content types and schemas, and invalid
input is rejected. Real Postgres and Redis behind the app; Stripe is the fake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, openapi
from schemathesis.specs.openapi import checks

from tests.helpers import bearer
from tests.integration.webhook_support import make_stripe, webhook_app

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
CALLERS = {
    "tenant_a": bearer("org_fuzz_a", "owner"),
    "tenant_b": bearer("org_fuzz_b", "owner"),
    "service_a": bearer("org_fuzz_a", "service"),
    "platform_admin": bearer("ops", "platform_admin"),
}
COUNT: dict[str, int] = {"cases": 0}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def operations(app):
    schema = openapi.from_wsgi("/api/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def fuzz(operation, headers, mode):
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        COUNT["cases"] += 1
        given = dict(case.headers or {})
        removed_auth = mode is GenerationMode.NEGATIVE and "Authorization" not in given
        # A negative case that drops the token is sent without one (it must answer 401).
        merged = given if removed_auth else {**given, **headers}
        response = case.call(headers=merged)
        assert response.status_code < 500, (case.method, case.path, response.text[:500])
        extra = [checks.negative_data_rejection] if mode is GenerationMode.NEGATIVE else []
        case.validate_response(response, checks=CHECKS + extra, headers=merged)

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # No invalid input exists for an operation without parameters or body.


@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_operation_holds_up(caller, settings, clean_db, clean_redis):
    app = webhook_app(
        settings.model_copy(
            update={
                "rate_limit_enabled": False,
                "stripe_success_url": "https://app.example.com/ok",
                "stripe_cancel_url": "https://app.example.com/no",
            }
        ),
        make_stripe(),
    )
    try:
        for operation in operations(app):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, CALLERS[caller], mode)
    finally:
        app.extensions["billing"].engine.dispose()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "schemathesis.txt").write_text(
        f"{COUNT['cases']} cases over {len(operations(app))} operations, "
        f"{len(CALLERS)} callers, {EXAMPLES} examples per operation and mode\n"
    )
