"""The /billing page's webhook endpoints in headless Chromium: an owner adds one and sees its
secret once, sees its deliveries, rotates, replays and deletes; a member sees none of it."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from tests.helpers import make_token
from tests.integration.outbound_support import deliveries, outbound_app, say
from tests.integration.test_pages_browser import DESKTOP, PHONE, open_page, shot
from tests.integration.webhook_receiver import Receiver
from tests.integration.webhook_support import drain


@pytest.fixture
def dev_site(settings, clean_db, clean_redis, tmp_path):
    app = outbound_app(settings, tmp_path, "postgres")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver = Receiver().start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}", receiver
    finally:
        receiver.stop()
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["billing"].engine.dispose()


def test_an_owner_manages_endpoints_and_sees_their_deliveries(browser, dev_site):
    app, base, receiver = dev_site
    page, problems = open_page(browser, f"{base}/billing", make_token("org_w", "owner"), DESKTOP)
    page.wait_for_selector("#webhooks-card:not([hidden])")
    assert page.is_visible("#no-webhooks")
    page.fill("#webhook-url", receiver.url)
    page.select_option("#webhook-types", ["invoice.paid"])
    page.click("#webhook-add")
    page.wait_for_selector("[data-endpoint]")
    secret = page.inner_text("#webhook-secret code")
    assert secret.startswith("whsec_")
    assert "invoice.paid" in page.inner_text("[data-endpoint]")

    receiver.secret = secret
    say(app, org="org_w", amount_minor=1200)
    drain(app.extensions["billing"])
    assert [d.status for d in deliveries(app)] == ["delivered"]
    page.reload()
    page.wait_for_selector("[data-delivery]")
    row = page.inner_text("[data-delivery]")
    assert "invoice.paid" in row and "delivered" in row and "HTTP 200" in row
    shot(page, "billing-webhooks-owner-desktop.png")

    page.click("[data-action=rotate]")
    page.wait_for_function(  # the box was emptied by the reload: wait for the new secret
        "s => (document.querySelector('#webhook-secret code') || {}).textContent"
        " && document.querySelector('#webhook-secret code').textContent !== s",
        arg=secret,
    )
    rotated = page.inner_text("#webhook-secret code")
    assert rotated.startswith("whsec_") and rotated != secret
    page.click("[data-action=replay]")
    page.wait_for_selector("[data-delivery]")
    page.click("[data-action=delete]")
    page.wait_for_selector("#no-webhooks:not([hidden])")
    assert problems == []
    page.close()


def test_a_member_does_not_see_the_webhooks_section(browser, dev_site):
    _app, base, _receiver = dev_site
    page, problems = open_page(browser, f"{base}/billing", make_token("org_w", "member"), PHONE)
    assert not page.is_visible("#webhooks-card")
    assert problems == []
    page.close()
