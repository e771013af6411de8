"""The owner's webhook endpoints over HTTP, with the in-memory ports: roles, URL rules,
secrets shown once, rotation, tenancy."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from domain.model.webhook_endpoints import SECRET_BYTES
from domain.services.webhook_endpoints import create_endpoint
from tests.helpers import bearer
from tests.unit.test_http_errors import assert_error

URL = "https://hooks.example.com/billing"
BASE = "/api/v1/webhook-endpoints"


def create(client, org="org_a", **body):
    response = client.post(BASE, json={"url": URL, **body}, headers=bearer(org))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored(ports):
    return ports["uow"].store.webhook_endpoints


def test_the_owner_registers_an_endpoint_and_sees_its_secret_once(client, ports):
    shown = create(client, event_types=["invoice.paid", "invoice.paid"], description="prod")
    assert shown["url"] == URL and shown["enabled"] is True
    assert shown["event_types"] == ["invoice.paid"] and shown["description"] == "prod"
    assert shown["secret"].startswith("whsec_")
    assert len(base64.b64decode(shown["secret"].removeprefix("whsec_"))) == SECRET_BYTES
    listed = client.get(BASE, headers=bearer("org_a")).get_json()["endpoints"]
    one = client.get(f"{BASE}/{shown['id']}", headers=bearer("org_a")).get_json()
    assert [e["id"] for e in listed] == [shown["id"]] and one["id"] == shown["id"]
    assert "secret" not in listed[0] and "secret" not in one
    audit = ports["uow"].store.audit[-1]
    assert audit.action == "webhook_endpoint.created" and audit.actor.startswith("user:")


@pytest.mark.parametrize("role", ["member", "service"])
def test_members_and_services_get_403_everywhere(client, ports, role):
    endpoint_id = create(client)["id"]
    headers = bearer("org_a", role)
    calls = [
        client.get(BASE, headers=headers),
        client.post(BASE, json={"url": URL}, headers=headers),
        client.get(f"{BASE}/{endpoint_id}", headers=headers),
        client.delete(f"{BASE}/{endpoint_id}", headers=headers),
        client.post(f"{BASE}/{endpoint_id}/rotate-secret", headers=headers),
        client.get(f"{BASE}/{endpoint_id}/deliveries", headers=headers),
        client.post(
            f"{BASE}/{endpoint_id}/replay", json={"since": "2026-11-01T00:00:00Z"}, headers=headers
        ),
    ]
    for response in calls:
        assert_error(response, 403, "forbidden_role")
    assert len(stored(ports)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/billing",  # http outside development
        "ftp://hooks.example.com/x",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.4:8443/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fe80::1]/hook",
        "https://internal.example.com/hook",  # resolves to a private address
        "https://gone.invalid/hook",  # does not resolve
        "https://user:pw@hooks.example.com/hook",
        "https:///no-host",
        "https://hooks.example.com:99999/hook",
    ],
)
def test_urls_the_service_must_not_post_to_are_refused_and_nothing_is_stored(client, ports, url):
    ports["resolver"].hosts["internal.example.com"] = ["93.184.215.14", "10.0.0.7"]
    response = client.post(BASE, json={"url": url}, headers=bearer("org_a"))
    assert_error(response, 422, "webhook_url_rejected")
    assert stored(ports) == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": URL, "event_types": ["invoice.exploded"]}, "invalid_webhook_event_type"),
        ({"url": URL, "secret": "mine"}, "validation_error"),
        ({"event_types": []}, "validation_error"),
        ({"url": ""}, "validation_error"),
        ({"url": URL, "description": "x" * 501}, "validation_error"),
    ],
)
def test_bad_bodies_answer_422_and_store_nothing(client, ports, body, code):
    assert_error(client.post(BASE, json=body, headers=bearer("org_a")), 422, code)
    assert stored(ports) == {}


def test_an_organization_has_at_most_twenty_endpoints(app, client, ports):
    deps = app.extensions["billing"].outbound
    for _ in range(20):  # beside the API: its sensitive calls are limited to 20 a minute
        create_endpoint(deps, "org_a", "user:u", URL)
    response = client.post(BASE, json={"url": URL}, headers=bearer("org_a"))
    assert_error(response, 409, "webhook_endpoint_limit")
    assert len(stored(ports)) == 20
    create(client, org="org_b")  # another organization's count is its own


def test_rotation_signs_with_both_secrets_for_24_hours(client, ports):
    shown = create(client)
    rotated = client.post(f"{BASE}/{shown['id']}/rotate-secret", headers=bearer("org_a"))
    assert rotated.status_code == 200
    new = rotated.get_json()
    assert new["secret"].startswith("whsec_") and new["secret"] != shown["secret"]
    endpoint = stored(ports)[shown["id"]]
    clock = ports["clock"]
    assert endpoint.signing_secrets(clock.now()) == [new["secret"], shown["secret"]]
    assert endpoint.signing_secrets(clock.now() + timedelta(hours=23, minutes=59)) == [
        new["secret"],
        shown["secret"],
    ]
    assert endpoint.signing_secrets(clock.now() + timedelta(hours=24)) == [new["secret"]]


def test_delete_removes_the_endpoint(client, ports):
    endpoint_id = create(client)["id"]
    response = client.delete(f"{BASE}/{endpoint_id}", headers=bearer("org_a"))
    assert response.status_code == 204
    assert stored(ports) == {}
    assert_error(client.get(f"{BASE}/{endpoint_id}", headers=bearer("org_a")), 404, "not_found")


def test_another_organizations_endpoint_answers_404_like_a_missing_one(client, ports):
    endpoint_id = create(client)["id"]
    headers = bearer("org_b")
    for target in (endpoint_id, "we_missing"):
        calls = [
            client.get(f"{BASE}/{target}", headers=headers),
            client.delete(f"{BASE}/{target}", headers=headers),
            client.post(f"{BASE}/{target}/rotate-secret", headers=headers),
            client.get(f"{BASE}/{target}/deliveries", headers=headers),
            client.post(
                f"{BASE}/{target}/replay", json={"since": "2026-11-01T00:00:00Z"}, headers=headers
            ),
        ]
        bodies = [r.get_json() for r in calls]
        for response in calls:
            assert_error(response, 404, "not_found")
        assert bodies[0]["message"] == "no such webhook endpoint"
    assert client.get(BASE, headers=headers).get_json() == {"endpoints": []}
    endpoint = stored(ports)[endpoint_id]
    assert endpoint.enabled and endpoint.previous_secret is None


def test_replay_needs_an_aware_since(client, ports):
    endpoint_id = create(client)["id"]
    for since in ("2026-11-01T00:00:00", "yesterday", None):
        response = client.post(
            f"{BASE}/{endpoint_id}/replay", json={"since": since}, headers=bearer("org_a")
        )
        assert_error(response, 422, "validation_error")
