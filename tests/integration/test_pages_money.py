"""The pages as a person uses them, in headless Chromium at desktop and phone widths: money
actions ask first and say what happened, White-Label can be bought, voice usage by day and by
conversation, an invoice explained down to its events (with a CSV download), an expired token,
/admin at 390 px, and an axe-core accessibility check of every page (no serious or critical
violation). Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import re
import threading

import pytest
from axe_playwright_python.sync_playwright import Axe
from werkzeug.serving import make_server

from tests.helpers import bearer, deliver, make_token
from tests.integration.test_pages_browser import DESKTOP, PHONE, open_page, shot
from tests.integration.webhook_support import make_stripe, webhook_app

CHECKOUT = "https://checkout.stripe.com/"
# The rendered size of the smallest text in the charts: its font size times the SVG's scale.
SMALLEST_CHART_TEXT_PX = """() => Math.min(
  ...[...document.querySelectorAll('.chart-box svg text')].map(
    (t) => parseFloat(getComputedStyle(t).fontSize) * t.ownerSVGElement.getScreenCTM().a))"""


@pytest.fixture
def shop(settings, clean_db, clean_redis):
    stripe = make_stripe()
    configured = settings.model_copy(
        update={
            "redis_timeout_ms": 5000,
            "stripe_success_url": "https://app.example.com/billing/done",
            "stripe_cancel_url": "https://app.example.com/billing",
        }
    )
    app = webhook_app(configured, stripe)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, stripe, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        app.extensions["billing"].engine.dispose()


def subscribe(app, stripe, org: str, tier: str) -> dict:
    client = app.test_client()
    cus = client.post(
        "/api/v1/billing/customer", json={"email": "a@example.com"}, headers=bearer(org, "owner")
    ).get_json()["stripe_customer_id"]
    sub = stripe.put_subscription(cus, stripe.price_ids[tier], "active", org_id=org)
    deliver(app.extensions["billing"], stripe.event("customer.subscription.created", sub))
    return sub


def record_voice(app, org: str) -> None:
    events = [
        {"metric": "stt_words", "quantity": 1500, "idempotency_key": "v1", "conversation_id": "c1"},
        {"metric": "tts_words", "quantity": 700, "idempotency_key": "v2", "conversation_id": "c1"},
        {"metric": "stt_words", "quantity": 300, "idempotency_key": "v3", "conversation_id": "c2"},
    ]
    answer = app.test_client().post(
        "/api/v1/usage/events", json={"events": events}, headers=bearer(org, "service")
    )
    assert answer.status_code == 200


def no_serious_violations(page) -> None:
    """axe-core finds no serious or critical violation, and nothing is wider than the screen."""
    wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page is {wide} px wider than the screen"
    results = Axe().run(page)
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious


@pytest.mark.parametrize(("viewport", "width"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_a_plan_change_asks_first_with_the_prorated_amount(browser, shop, viewport, width):
    app, stripe, base = shop
    sub = subscribe(app, stripe, "org_up", "starter")
    page, problems = open_page(browser, f"{base}/billing", make_token("org_up", "owner"), viewport)
    try:
        assert page.inner_text("#upgrade") == "Change plan"
        page.select_option("#upgrade-tier", "pro")
        writes = len(stripe.writes())
        page.click("#upgrade")
        page.wait_for_selector("#confirm[open]")
        text = page.inner_text("#confirm")
        charged = re.search(r"charged (\$[\d.,]+) now", text).group(1)
        assert charged.startswith(("$69.", "$70.")) and "From " in text and "$99.00 a month" in text
        no_serious_violations(page)
        shot(page, f"billing-upgrade-confirm-{width}.png")
        page.click("#confirm-cancel")  # go back: nothing is done
        assert page.inner_text("#plan-name") == "Starter" and len(stripe.writes()) == writes
        page.click("#upgrade")
        page.click("#confirm-ok")
        page.wait_for_function(
            "(text) => document.getElementById('notice').textContent === text",
            arg=f"Now on Pro: {charged} was charged.",
        )
        assert page.inner_text("#plan-name") == "Pro"
        assert (
            stripe.subscriptions[sub["id"]]["items"]["data"][0]["price"]["id"]
            == (stripe.price_ids["pro"])
        )
        shot(page, f"billing-upgraded-{width}.png")
        page.click("#cancel")
        page.wait_for_selector("#confirm[open]")
        end = page.inner_text("#confirm-ok").removeprefix("Cancel on ")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", end)
        assert f"stays until {end}, then moves to the free plan" in page.inner_text("#confirm")
        page.click("#confirm-ok")
        page.wait_for_function(
            "(text) => document.getElementById('notice').textContent === text",
            arg=f"Canceled: the plan stays until {end}.",
        )
        assert page.is_visible("#resume")
        assert stripe.subscriptions[sub["id"]]["cancel_at_period_end"] is True
        assert problems == []
    finally:
        page.close()


def test_a_refused_action_says_why_and_changes_nothing(browser, shop):
    app, stripe, base = shop
    subscribe(app, stripe, "org_no", "starter")
    page, _ = open_page(browser, f"{base}/billing", make_token("org_no", "owner"), DESKTOP)
    try:
        page.select_option("#upgrade-tier", "pro")
        page.click("#upgrade")
        page.wait_for_selector("#confirm[open]")
        stripe.fail_next(
            __import__("domain.errors").errors.PaymentDeclined("Your card was declined.")
        )
        page.click("#confirm-ok")
        page.wait_for_selector("#error:not([hidden])")
        assert page.inner_text("#error").startswith("Nothing was changed: ")
        assert page.inner_text("#plan-name") == "Starter"
    finally:
        page.close()


def test_white_label_is_bought_from_the_billing_page(browser, shop):
    _, stripe, base = shop
    page, problems = open_page(browser, f"{base}/billing", make_token("org_wl", "owner"), PHONE)
    try:
        page.route(f"{CHECKOUT}**", lambda route: route.fulfill(body="Stripe Checkout"))
        assert page.is_visible("#white-label-card")
        assert page.inner_text("#white-label-price") == "$999.00"
        page.click("#white-label")
        page.wait_for_selector("#confirm[open]")
        assert "$999.00, paid once" in page.inner_text("#confirm")
        shot(page, "billing-white-label-confirm-phone.png")
        page.click("#confirm-ok")
        page.wait_for_url(f"{CHECKOUT}**")
        (session,) = stripe.sessions.values()
        assert session["mode"] == "payment" and session["metadata"]["org_id"] == "org_wl"
        assert problems == []
    finally:
        page.close()


@pytest.mark.parametrize(("viewport", "width"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_voice_usage_by_day_and_conversation_and_an_invoice_explained(
    browser, shop, viewport, width, tmp_path
):
    app, stripe, base = shop
    subscribe(app, stripe, "org_voice", "pro")
    record_voice(app, "org_voice")
    page, problems = open_page(
        browser, f"{base}/billing", make_token("org_voice", "owner"), viewport
    )
    try:
        page.wait_for_selector("#voice-conversations tbody tr")
        assert page.inner_text("[data-metric=stt_words] .label span") == "Speech-to-text words"
        days = page.inner_text("#voice-days tbody")
        assert "1,800" in days and "700" in days
        conversations = [
            r.inner_text() for r in page.query_selector_all("#voice-conversations tbody tr")
        ]
        assert len(conversations) == 2 and "c1" in conversations[0] and "1,500" in conversations[0]
        no_serious_violations(page)
        shot(page, f"billing-voice-{width}.png")
        page.close()

        client = app.test_client()
        invoice = client.post(
            "/api/v1/billing/generate-usage-invoice", headers=bearer("org_voice", "owner")
        ).get_json()["invoice"]
        page, problems = open_page(
            browser, f"{base}/billing", make_token("org_voice", "member"), viewport
        )
        page.click(f"[data-invoice='{invoice['id']}'] a:not([target])")
        page.wait_for_selector("#page:not([hidden]) .line")
        stt = page.inner_text("[data-metric=stt_words]")
        assert "Speech-to-text words: $1.80" in stt
        assert "1,800 words \u00f7 1,000 \u00d7 $1.00 = $1.80, from 2 events" in stt
        assert len(page.query_selector_all("[data-metric=stt_words] tbody tr")) == 2
        assert "rounded once to the cent (half up)" in page.inner_text("#invoice-rule")
        with page.expect_download() as download:
            page.click("#download")
        path = tmp_path / "events.csv"
        download.value.save_as(path)
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert sorted((r["idempotency_key"], int(r["quantity"])) for r in rows) == [
            ("v1", 1500),
            ("v2", 700),
            ("v3", 300),
        ]
        no_serious_violations(page)
        shot(page, f"invoice-{width}.png")
        assert problems == []
    finally:
        page.close()


def test_an_expired_token_leaves_nothing_of_its_organization(browser, shop):
    _, _, base = shop
    page = browser.new_page(viewport=DESKTOP)
    try:
        page.goto(f"{base}/billing#token={make_token('org_old', 'owner', expires_in=-60)}")
        page.wait_for_selector("#token-form:not([hidden])")
        assert page.inner_text("#who") == "" and page.is_hidden("#page")
        assert "expired" in page.inner_text("#error")
        no_serious_violations(page)
        shot(page, "billing-token-expired-desktop.png")
    finally:
        page.close()


def test_admin_at_phone_width_is_readable_and_explains_itself(browser, shop):
    app, stripe, base = shop
    subscribe(app, stripe, "org_cust", "pro")
    client = app.test_client()
    client.post(
        "/api/v1/white-label/purchase",
        json={"plan_tier": "white_label"},
        headers=bearer("org_cust", "owner"),
    )
    for viewport, width in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page, problems = open_page(
            browser, f"{base}/admin", make_token("ops", "platform_admin"), viewport
        )
        try:
            page.wait_for_selector("#chart-mrr svg")
            smallest = page.evaluate(SMALLEST_CHART_TEXT_PX)
            assert smallest >= 11, smallest
            churn = page.inner_text("#churn")
            assert "No data: no customer was paying at the start" in churn
            conversion = page.inner_text("#conversion")
            assert "White-Label" in conversion and "white_label" not in conversion
            text = page.inner_text("#page")
            assert re.findall(r"n/a(?! \()", text) == []  # every n/a says why
            # The operator's own organization is no customer: 1 of 1, not 1 of 2.
            assert "(1 of 1 new organizations)" in page.inner_text("#free-to-paid")
            no_serious_violations(page)
            shot(page, f"admin-explained-{width}.png")
            assert problems == []
        finally:
            page.close()
