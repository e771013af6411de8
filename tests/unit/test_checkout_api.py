"""Checkout, the white-label purchase, the portal, plan changes, cancel and resume."""

from __future__ import annotations

import pytest

from domain.model.purchases import PurchaseStatus
from tests.unit.conftest import APP
from tests.unit.test_http_errors import assert_error
from tests.unit.test_payments_api import WRITES, post

REFUSED_REDIRECTS = [
    "//evil.com/x",
    "javascript:alert(1)",
    "https://app@evil.com/",
    "https://app.example.com@evil.com/",
    "https://evil.com/",
    "https://app.example.com.evil.com/",
    "http://app.example.com/",
    "https://app.example.com:8443/",
    "https://APP.example.com\\@evil.com",
    "ftp://app.example.com/",
    "https:///app.example.com",
    "/relative/path",
    "https://app.example.com/\r\nSet-Cookie:x",
    "https://app.example.com /x",
    "data:text/html,hi",
    "https://app.example.co/",
    "https://app.example.com\t.evil.com/",
    "https://[::1]/",
    "",
    "https://app.example.com:99999/",
]


@pytest.mark.parametrize("url", REFUSED_REDIRECTS)
@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
def test_checkout_refuses_redirects_outside_the_allowlist(client, stripe, url, field):
    response = post(
        client, "/api/v1/billing/create-checkout-session", {"plan_tier": "pro", field: url}
    )
    assert_error(response, 400, "redirect_not_allowed")
    assert stripe.sessions == {}


@pytest.mark.parametrize(
    "url",
    [
        f"{APP}/done?x=1",
        "HTTPS://App.Example.com/ok",
        "https://app.example.com:443/ok",
        "http://localhost:3000/cb",
    ],
)
def test_checkout_accepts_exact_origins(client, stripe, url):
    response = post(
        client, "/api/v1/billing/create-checkout-session", {"plan_tier": "pro", "success_url": url}
    )
    assert response.status_code == 201, response.get_json()


def test_checkout_session_carries_the_organization(client, stripe, ports):
    response = post(client, "/api/v1/billing/create-checkout-session", {"plan_tier": "starter"})
    assert response.status_code == 201
    body = response.get_json()
    session = stripe.sessions[body["session_id"]]
    assert body["checkout_url"] == session["url"]
    assert session["mode"] == "subscription"
    assert session["client_reference_id"] == "org_a"
    assert session["metadata"]["org_id"] == "org_a"
    assert session["metadata"]["plan_tier"] == "starter"
    assert session["success_url"] == f"{APP}/billing/success"
    assert session["line_items_price"] == stripe.price_ids["starter"]
    record = next(iter(ports["uow"].store.checkouts.values()))
    assert record.stripe_checkout_session_id == body["session_id"]
    assert record.status.value == "open" and record.org_id == "org_a"
    assert session["metadata"]["checkout_id"] == record.id
    ops = [op for op, _ in stripe.writes()]
    assert ops == ["customers.create", "checkout.sessions.create"]


def test_checkout_is_refused_with_a_live_subscription(client, stripe):
    post(client, "/api/v1/billing/subscription", {"plan_tier": "pro"})
    assert_error(
        post(client, "/api/v1/billing/create-checkout-session", {"plan_tier": "pro"}),
        409,
        "subscription_exists",
    )


def test_white_label_purchase_is_a_payment_mode_checkout(client, stripe, ports):
    response = post(client, "/api/v1/white-label/purchase", {"plan_tier": "white_label"})
    assert response.status_code == 201, response.get_json()
    session = stripe.sessions[response.get_json()["session_id"]]
    assert session["mode"] == "payment"
    assert session["line_items_price"] == stripe.price_ids["white_label"]
    purchase = next(iter(ports["uow"].store.purchases.values()))
    assert purchase.status is PurchaseStatus.PENDING
    assert purchase.stripe_checkout_session_id == session["id"]
    assert session["metadata"]["purchase_id"] == purchase.id
    assert purchase.amount.amount_minor == 99900


def test_white_label_is_refused_once_paid(client, stripe, ports, app):
    post(client, "/api/v1/white-label/purchase", {})
    purchase = next(iter(ports["uow"].store.purchases.values()))
    purchase.mark_paid("pi_1", ports["clock"].now())
    assert_error(post(client, "/api/v1/white-label/purchase", {}), 409, "already_purchased")


@pytest.mark.parametrize("body", [{"plan_tier": "pro"}, {"plan_tier": "white_label", "amount": 1}])
def test_white_label_validation(client, body):
    assert_error(post(client, "/api/v1/white-label/purchase", body), 422, "validation_error")


def test_portal_needs_a_customer_then_answers_its_url(client, stripe):
    assert_error(post(client, "/api/v1/billing/portal-session", {}), 409, "customer_required")
    post(client, "/api/v1/billing/customer", {"email": "a@example.com"})
    response = post(client, "/api/v1/billing/portal-session", {"return_url": f"{APP}/settings"})
    assert response.status_code == 201
    assert response.get_json()["url"].startswith("https://billing.stripe.com/")
    again = post(client, "/api/v1/billing/portal-session", {"return_url": f"{APP}/settings"})
    assert again.get_json() == response.get_json()  # same minute, same key, same session
    assert_error(
        post(client, "/api/v1/billing/portal-session", {"return_url": "https://evil.com"}),
        400,
        "redirect_not_allowed",
    )


def _subscribe(client, tier="starter"):
    return post(client, "/api/v1/billing/subscription", {"plan_tier": tier}).get_json()


def _last_update_params(stripe):
    return [key for op, key in stripe.writes() if op == "subscriptions.update"][-1]


def test_upgrade_invoices_now_and_downgrade_credits_later(client, stripe, ports):
    sub_id = _subscribe(client)["subscription"]["stripe_subscription_id"]
    up = post(client, "/api/v1/billing/subscription/change", {"plan_tier": "pro"})
    assert up.status_code == 200 and up.get_json()["tier"] == "pro"
    assert (
        stripe.subscriptions[sub_id]["items"]["data"][0]["price"]["id"] == stripe.price_ids["pro"]
    )
    assert '"always_invoice"' in stripe._replies[_last_update_params(stripe)][0]
    ports["clock"].advance(minutes=1)
    down = post(client, "/api/v1/billing/subscription/change", {"plan_tier": "starter"})
    assert down.get_json()["tier"] == "starter"
    assert '"create_prorations"' in stripe._replies[_last_update_params(stripe)][0]
    assert ports["uow"].store.subscriptions[sub_id].tier.value == "starter"


def test_changing_back_and_forth_is_not_replayed(client, stripe, ports):
    _subscribe(client)
    for tier in ("pro", "starter", "pro"):
        ports["clock"].advance(seconds=1)
        assert (
            post(client, "/api/v1/billing/subscription/change", {"plan_tier": tier}).get_json()[
                "tier"
            ]
            == tier
        )
    keys = [key for op, key in stripe.writes() if op == "subscriptions.update"]
    assert len(set(keys)) == 3


def test_change_errors(client, stripe):
    assert_error(
        post(client, "/api/v1/billing/subscription/change", {"plan_tier": "pro"}),
        404,
        "subscription_not_found",
    )
    _subscribe(client, "pro")
    assert_error(
        post(client, "/api/v1/billing/subscription/change", {"plan_tier": "pro"}),
        409,
        "plan_unchanged",
    )
    assert_error(
        post(client, "/api/v1/billing/subscription/change", {"plan_tier": "free"}),
        422,
        "plan_not_purchasable",
    )
    assert_error(
        post(client, "/api/v1/billing/subscription/change", {"plan_tier": "gold"}),
        422,
        "unknown_plan",
    )


def test_cancel_at_period_end_then_resume(client, stripe, ports):
    sub_id = _subscribe(client)["subscription"]["stripe_subscription_id"]
    assert_error(
        post(client, "/api/v1/billing/subscription/resume"), 409, "subscription_not_resumable"
    )
    canceled = post(client, "/api/v1/billing/subscription/cancel", {})
    assert canceled.status_code == 200 and canceled.get_json()["cancel_at_period_end"] is True
    assert stripe.subscriptions[sub_id]["cancel_at_period_end"] is True
    ports["clock"].advance(seconds=1)
    resumed = post(client, "/api/v1/billing/subscription/resume")
    assert resumed.get_json()["cancel_at_period_end"] is False
    assert stripe.subscriptions[sub_id]["cancel_at_period_end"] is False


def test_resume_accepts_a_request_without_a_body(client, stripe, ports):
    from tests.helpers import bearer

    _subscribe(client)
    post(client, "/api/v1/billing/subscription/cancel", {})
    ports["clock"].advance(seconds=1)
    response = client.post("/api/v1/billing/subscription/resume", headers=bearer())
    assert response.status_code == 200, response.get_json()


def test_cancel_now(client, stripe, ports):
    sub_id = _subscribe(client)["subscription"]["stripe_subscription_id"]
    body = post(client, "/api/v1/billing/subscription/cancel", {"at_period_end": False})
    assert body.get_json()["status"] == "canceled"
    assert stripe.subscriptions[sub_id]["status"] == "canceled"
    assert_error(
        post(client, "/api/v1/billing/subscription/cancel", {}), 404, "subscription_not_found"
    )
    assert_error(
        post(client, "/api/v1/billing/subscription/cancel", {"at_period_end": "soon"}),
        422,
        "validation_error",
    )


def test_legacy_aliases_work(client, stripe):
    assert post(client, "/api/billing/customer", {"email": "a@example.com"}).status_code == 200
    assert post(client, "/api/billing/subscription", {"plan_tier": "pro"}).status_code == 201


def test_openapi_documents_every_payment_endpoint(client):
    spec = client.get("/api/openapi.json").get_json()
    for path, _ in WRITES:
        operation = spec["paths"][path]["post"]
        assert "requestBody" in operation, path
        responses = operation["responses"]
        success = next(code for code in responses if code.startswith("2"))
        assert "schema" in responses[success]["content"]["application/json"], path
        assert {"401", "403", "422", "503"} <= set(responses), path
        assert "stripe_not_configured" in responses["503"]["description"], path
        assert operation.get("deprecated", False) is path.startswith("/api/billing"), path


def _preview(client, tier, role="owner"):
    from tests.helpers import bearer

    return client.get(
        f"/api/v1/billing/subscription/change-preview?plan_tier={tier}", headers=bearer(role=role)
    )


def test_a_plan_change_is_previewed_then_charged_as_shown(client, stripe, real_time):
    _subscribe(client)  # starter, $29
    before = list(stripe.writes())
    up = _preview(client, "pro")
    assert up.status_code == 200, up.get_json()
    body = up.get_json()
    assert body["upgrade"] and body["proration_behavior"] == "always_invoice"
    # $70 of difference for (nearly) the whole period left: charged now
    assert 6_990 <= body["due_now"]["amount_minor"] <= 7_000
    assert body["due_now"] == body["invoice_total"] == body["prorations"]
    assert stripe.writes() == before  # a preview writes nothing
    changed = post(
        client,
        "/api/v1/billing/subscription/change",
        {"plan_tier": "pro", "proration_date": body["proration_date"]},
    )
    assert changed.status_code == 200 and stripe.proration_dates[-1] == body["proration_date"]
    down = _preview(client, "starter").get_json()
    assert not down["upgrade"] and down["due_now"]["amount_minor"] == 0
    assert -7_000 <= down["prorations"]["amount_minor"] <= -6_990  # a credit, next invoice


def test_a_plan_change_preview_refuses_like_the_change(client, stripe, real_time):
    assert_error(_preview(client, "pro"), 404, "subscription_not_found")
    _subscribe(client, "pro")
    assert_error(_preview(client, "pro"), 409, "plan_unchanged")
    assert_error(_preview(client, "free"), 422, "plan_not_purchasable")
    assert_error(_preview(client, "gold"), 422, "unknown_plan")
    assert_error(_preview(client, "starter", role="member"), 403, "forbidden_role")
    bad = post(
        client,
        "/api/v1/billing/subscription/change",
        {"plan_tier": "starter", "proration_date": "soon"},
    )
    assert_error(bad, 422, "validation_error")
