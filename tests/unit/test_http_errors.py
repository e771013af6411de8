"""Every error answers the same JSON shape: {"code", "message", "status"}."""

from __future__ import annotations

import marshmallow as ma
import pytest
from flask.views import MethodView
from flask_smorest import Blueprint

from entrypoints.api.app import create_app
from entrypoints.api.auth import CHANGE_BILLING, requires
from tests.helpers import bearer
from tests.unit.fakes import fake_ports


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == code
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    return body


class EchoSchema(ma.Schema):
    count = ma.fields.Integer(required=True, strict=True)


@pytest.fixture
def echo_app(settings):
    """An app with one write endpoint, to exercise body rules the way later resources will."""
    app = create_app(settings, **fake_ports())
    blp = Blueprint("echo", __name__, url_prefix="/test-echo")

    @blp.route("")
    class Echo(MethodView):
        @requires(*CHANGE_BILLING)
        @blp.arguments(EchoSchema)
        @blp.response(200, EchoSchema)
        def post(self, body):
            return body

        @blp.arguments(EchoSchema, location="query")
        @blp.response(200, EchoSchema)
        def get(self, args):
            return args

    app.extensions["billing_api"].register_blueprint(blp)
    return app


def test_unknown_route_is_404_in_the_common_shape(client):
    assert_error(client.get("/api/v1/nope"), 404, "not_found")


def test_wrong_method_is_405_in_the_common_shape(client):
    response = client.delete("/api/v1/plans")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_over_the_limit_is_413(echo_app):
    response = echo_app.test_client().post(
        "/test-echo", data=b"x" * (65 * 1024), content_type="application/json", headers=bearer()
    )
    assert_error(response, 413, "payload_too_large")


def test_body_that_is_not_json_is_415(echo_app):
    response = echo_app.test_client().post(
        "/test-echo",
        data="count=1",
        content_type="application/x-www-form-urlencoded",
        headers=bearer(),
    )
    assert_error(response, 415, "unsupported_media_type")


def test_invalid_body_is_422_with_field_errors(echo_app):
    response = echo_app.test_client().post("/test-echo", json={"count": "three"}, headers=bearer())
    body = assert_error(response, 422, "validation_error")
    assert "count" in body["errors"]["json"]


def test_invalid_query_is_422(echo_app):
    body = assert_error(echo_app.test_client().get("/test-echo?count=x"), 422, "validation_error")
    assert "count" in body["errors"]["query"]


def test_malformed_json_is_400(echo_app):
    response = echo_app.test_client().post(
        "/test-echo", data="{not json", content_type="application/json", headers=bearer()
    )
    assert response.status_code in (400, 422)
    assert set(response.get_json()) >= {"code", "message", "status"}


def test_valid_write_passes_every_rule(echo_app):
    response = echo_app.test_client().post("/test-echo", json={"count": 3}, headers=bearer())
    assert response.status_code == 200
    assert response.get_json() == {"count": 3}


def test_unexpected_exception_is_500_without_internals(settings):
    app = create_app(settings, **fake_ports())

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    body = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert body["message"]


def test_domain_errors_map_to_their_status(settings):
    from domain.errors import UnknownPlan

    app = create_app(settings, **fake_ports())

    @app.route("/plan-error")
    def plan_error():
        raise UnknownPlan("unknown plan 'gold'", plan_tier="gold")

    body = assert_error(app.test_client().get("/plan-error"), 422, "unknown_plan")
    assert body["plan_tier"] == "gold"
