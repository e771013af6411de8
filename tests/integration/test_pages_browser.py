"""The /billing and /admin pages in headless Chromium (Debian's package, driven by Playwright
with its executable path set: no browser download). Screenshots go to test-artifacts/."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from werkzeug.serving import make_server

from domain.services.quotas import flush_ledger
from tests.helpers import bearer, deliver, make_token, stripe_signature
from tests.integration.webhook_support import make_stripe, webhook_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture
def site(settings, clean_db, clean_redis):
    stripe = make_stripe()
    # What the pages show, not how fast: a loaded machine may hold a Redis reply past the
    # request path's 50 ms, and the dashboard then (rightly) shows usage as unavailable.
    app = webhook_app(settings.model_copy(update={"redis_timeout_ms": 5000}), stripe)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, stripe, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["billing"].engine.dispose()


def seed_paying(app, stripe) -> str:
    client = app.test_client()
    owner = bearer("org_paying", "owner")
    cus = client.post(
        "/api/v1/billing/customer", json={"email": "ops@example.com"}, headers=owner
    ).get_json()["stripe_customer_id"]
    sub = stripe.put_subscription(cus, stripe.price_ids["pro"], "active", org_id="org_paying")
    deliver(app.extensions["billing"], stripe.event("customer.subscription.created", sub))
    client.post(
        "/api/v1/quota/consume",
        json={"metric": "queries", "amount": 42},
        headers=bearer("org_paying", "service"),
    )
    client.post(
        "/api/v1/usage/events",
        json={
            "events": [
                {"metric": "stt_words", "quantity": 1500, "idempotency_key": "a"},
                {"metric": "tts_words", "quantity": 1000, "idempotency_key": "b"},
            ]
        },
        headers=bearer("org_paying", "service"),
    )
    invoice = client.post("/api/v1/billing/generate-usage-invoice", headers=owner).get_json()
    client.post(
        "/api/v1/usage/events",
        json={"events": [{"metric": "stt_words", "quantity": 2500, "idempotency_key": "c"}]},
        headers=bearer("org_paying", "service"),
    )
    return invoice["invoice"]["hosted_invoice_url"]


def open_page(browser: Browser, url: str, token: str, viewport: dict) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport=viewport)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{url}#token={token}")
    page.wait_for_selector("#page:not([hidden])", timeout=15_000)
    return page, problems


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_billing_page_for_a_free_organization(browser, site):
    _, _, base = site
    for viewport, name in (
        (DESKTOP, "billing-free-desktop.png"),
        (PHONE, "billing-free-phone.png"),
    ):
        page, problems = open_page(
            browser, f"{base}/billing", make_token("org_free", "owner"), viewport
        )
        assert page.inner_text("#plan-name") == "Free"
        assert "Free plan" in page.inner_text("#plan-state")
        assert page.inner_text("[data-metric=queries] .used") == "0 / 100"
        assert page.inner_text("[data-metric=documents] .used") == "0 / 5"
        assert page.is_visible("#no-invoices")
        assert page.is_visible("#upgrade") and page.inner_text("#upgrade") == "Upgrade"
        assert not page.is_visible("#portal")  # no Stripe customer yet
        shot(page, name)
        assert problems == []
        page.close()


def test_billing_page_for_a_paying_organization_as_member_and_owner(browser, site):
    app, stripe, base = site
    hosted = seed_paying(app, stripe)
    page, problems = open_page(
        browser, f"{base}/billing", make_token("org_paying", "member"), DESKTOP
    )
    assert page.inner_text("#plan-name") == "Pro"
    assert "Renews on" in page.inner_text("#plan-state")
    assert page.inner_text("[data-metric=queries] .used") == "42 / 100,000"
    assert page.inner_text("#voice-words") == "2,500"
    assert page.inner_text("#voice-charge") == "$2.50"
    rows = page.query_selector_all("#invoices tbody tr")
    assert len(rows) == 1 and "$2.50" in rows[0].inner_text()
    assert page.get_attribute("#invoices tbody a[target=_blank]", "href") == hosted
    assert not page.is_visible("#upgrade") and not page.is_visible("#cancel")  # a member
    shot(page, "billing-paying-member-desktop.png")
    assert problems == []
    page.close()

    page, problems = open_page(browser, f"{base}/billing", make_token("org_paying", "owner"), PHONE)
    assert page.is_visible("#cancel") and page.is_visible("#portal")
    assert page.inner_text("#upgrade") == "Change plan"
    page.click("#cancel")
    page.click("#confirm-ok")  # the cancel asks first
    page.wait_for_selector("#resume:not([hidden])")
    assert "Cancels at the end of the period" in page.inner_text("#plan-state")
    shot(page, "billing-paying-owner-phone.png")
    assert problems == []
    page.close()


def test_admin_page_renders_its_charts_and_the_dead_events(browser, site):
    app, stripe, base = site
    seed_paying(app, stripe)
    sub = stripe.put_subscription("cus_ghost", stripe.price_ids["pro"], "active")
    stripe.broken.add(sub["id"])
    client = app.test_client()
    body = stripe.event("customer.subscription.updated", sub, event_id="evt_dead_1")
    client.post(
        "/api/v1/billing/webhook",
        data=body,
        headers={"Stripe-Signature": stripe_signature(body), "Content-Type": "application/json"},
    )
    from domain.services.stripe_events import record_failure

    c = app.extensions["billing"]
    record_failure(c.uow, c.clock, "evt_dead_1", "RuntimeError: retrieving fails", final=True)
    for viewport, name in ((DESKTOP, "admin-desktop.png"), (PHONE, "admin-phone.png")):
        page, problems = open_page(
            browser, f"{base}/admin", make_token("ops", "platform_admin"), viewport
        )
        page.wait_for_selector("#chart-mrr svg")
        assert page.query_selector("#chart-usage-revenue svg") is not None
        assert page.inner_text("#mrr") == "$99.00"
        assert "evt_dead_1" in page.inner_text("#dead")
        shot(page, name)
        assert problems == []
        page.close()
    page, _ = open_page(browser, f"{base}/admin", make_token("ops", "platform_admin"), DESKTOP)
    page.click("[data-event=evt_dead_1]")
    page.wait_for_selector("#no-dead:not([hidden])")
    page.close()


def test_admin_page_shows_the_latest_reconciliation_and_runs_one(browser, site):
    from tests.integration.webhook_support import drain

    app, stripe, base = site
    seed_paying(app, stripe)
    sub_id = next(iter(stripe.subscriptions))
    stripe.subscriptions[sub_id].update(status="canceled")  # in the Dashboard, no webhook
    page, problems = open_page(
        browser, f"{base}/admin", make_token("ops", "platform_admin"), DESKTOP
    )
    assert page.inner_text("#reconcile-summary") == "No run yet."
    assert page.is_visible("#reconcile-run")
    page.check("#reconcile-fix")
    page.click("#reconcile-run")
    page.wait_for_function(
        "document.querySelector('#reconcile-summary').textContent.includes('queued')"
    )
    drain(app.extensions["billing"])  # the bulk worker's reconcile queue
    page.wait_for_function(
        "document.querySelector('#reconcile-summary').textContent.includes('finished')"
    )
    rows = page.query_selector_all("#drifts tbody tr")
    assert len(rows) == 1
    cells = rows[0].inner_text()
    assert "org_paying" in cells and sub_id in cells and "status_differs" in cells
    assert "repaired" in cells and "(new)" in cells
    assert "1 repaired" in page.inner_text("#reconcile-summary")
    shot(page, "admin-reconciliation-desktop.png")
    assert problems == []
    page.close()
    # Opened again, the page shows that latest report.
    page, problems = open_page(browser, f"{base}/admin", make_token("ops", "platform_admin"), PHONE)
    assert "status_differs" in page.inner_text("#drifts")
    assert problems == []
    page.close()


def test_billing_page_shows_alerts_and_the_spend_cap_and_owners_edit_them(browser, site):
    app, _, base = site
    client = app.test_client()
    for _ in range(80):  # the free plan's 80% of 100 queries
        client.post(
            "/api/v1/quota/consume", json={"metric": "queries"}, headers=bearer("org_al", "service")
        )
    flush_ledger(app.extensions["billing"].quota)
    page, problems = open_page(browser, f"{base}/billing", make_token("org_al", "member"), DESKTOP)
    page.wait_for_selector("#alerts tbody tr")
    assert "fired" in page.inner_text("[data-threshold='queries:percent:80']")
    assert "pending" in page.inner_text("[data-threshold='queries:percent:100']")
    assert page.inner_text("#cap-amount") == "none"
    assert not page.is_visible("#cap-form") and not page.is_visible("#alert-form")
    assert problems == []
    page.close()

    page, problems = open_page(browser, f"{base}/billing", make_token("org_al", "owner"), PHONE)
    page.wait_for_selector("#cap-form:not([hidden])")
    page.fill("#cap-input", "12.50")
    page.click("#cap-form button[type=submit]")
    page.wait_for_function("document.getElementById('cap-amount').textContent === '$12.50'")
    page.select_option("#alert-metric", "stt_words")
    page.select_option("#alert-kind", "amount")
    page.fill("#alert-value", "5000")
    page.click("#alert-form button[type=submit]")
    page.wait_for_selector("[data-threshold='stt_words:amount:5000']")
    shot(page, "billing-alerts-owner-phone.png")
    assert problems == []
    page.close()
    cap = client.get("/api/v1/billing/spend-cap", headers=bearer("org_al", "owner")).get_json()
    assert cap["cap"]["amount_minor"] == 1250
    alerts = client.get("/api/v1/alerts", headers=bearer("org_al", "owner")).get_json()
    assert [t["id"] for t in alerts["thresholds"]][-1] == "amount:5000"
    assert len(alerts["thresholds"]) == 5  # the four defaults it was showing, and the new one
