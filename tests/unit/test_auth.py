"""Authentication and roles: 401/403 in the common shape; the organization comes from the token."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helpers import TEST_JWT_SECRET, auth, bearer, make_token
from tests.unit.test_http_errors import assert_error

STATUS = "/api/v1/billing/status"


def test_missing_token_is_401(client):
    response = client.get(STATUS)
    assert_error(response, 401, "token_missing")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_non_bearer_header_is_401(client):
    assert_error(client.get(STATUS, headers={"Authorization": "Basic abc"}), 401, "token_missing")


def test_expired_token_is_401(client):
    assert_error(client.get(STATUS, headers=bearer(expires_in=-10)), 401, "token_expired")


def test_wrong_signature_is_401(client):
    token = make_token(secret="another-secret-that-is-long-enough-for-hs256-000000")
    assert_error(client.get(STATUS, headers=auth(token)), 401, "token_invalid")


def _unsigned(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_alg_none_is_401(client):
    import time

    token = _unsigned(
        {"sub": "u", "org_id": "org_a", "role": "owner", "exp": int(time.time()) + 60}
    )
    assert_error(client.get(STATUS, headers=auth(token)), 401, "token_invalid")


def test_other_algorithm_than_configured_is_401(client):
    token = make_token(algorithm="HS512", secret=TEST_JWT_SECRET)
    assert_error(client.get(STATUS, headers=auth(token)), 401, "token_invalid")


def test_garbage_token_is_401(client):
    assert_error(client.get(STATUS, headers=auth("not.a.token")), 401, "token_invalid")


@pytest.mark.parametrize("claim", ["org_id", "role", "exp", "sub"])
def test_missing_required_claim_is_401(client, claim):
    body = assert_error(
        client.get(STATUS, headers=auth(make_token(drop=(claim,)))), 401, "token_invalid"
    )
    if claim != "sub":  # flask-jwt-extended itself refuses a token without its identity claim
        assert claim in body["message"]


@pytest.mark.parametrize("org_id", ["", "a" * 65, "org/../b", "org a", 42])
def test_malformed_org_id_is_401(client, org_id):
    assert_error(client.get(STATUS, headers=auth(make_token(org_id=org_id))), 401, "token_invalid")


def test_wrong_role_is_403(client):
    # A service token reads the plan (status, quota, dashboard) but changes no billing.
    customer = client.post(
        "/api/v1/billing/customer", json={"email": "a@example.com"}, headers=bearer(role="service")
    )
    assert_error(customer, 403, "forbidden_role")


def test_unknown_role_is_403(client):
    assert_error(client.get(STATUS, headers=bearer(role="superuser")), 403, "forbidden_role")


@pytest.mark.parametrize("role", ["member", "owner", "service", "platform_admin"])
def test_readers_may_read_status(client, role):
    assert client.get(STATUS, headers=bearer(role=role)).status_code == 200


def test_organization_is_created_on_first_authenticated_call(client, ports):
    store = ports["uow"].store
    assert "org_new" not in store.organizations
    client.get(STATUS, headers=bearer("org_new", "member"))
    assert "org_new" in store.organizations
    created = store.organizations["org_new"].created_at
    client.get(STATUS, headers=bearer("org_new", "member"))
    assert store.organizations["org_new"].created_at == created


def test_failed_auth_creates_no_organization(client, ports):
    client.get(STATUS, headers=bearer("org_x", role="superuser"))  # a role refused
    client.get(STATUS, headers=bearer("org_y", expires_in=-5))
    assert ports["uow"].store.organizations == {}


def test_org_from_body_header_or_query_is_ignored(client):
    headers = {**bearer("org_a"), "X-Org-Id": "org_b"}
    response = client.get(STATUS + "?org_id=org_b", headers=headers)
    assert response.get_json()["org_id"] == "org_a"
