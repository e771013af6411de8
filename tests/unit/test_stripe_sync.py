"""flask billing stripe-sync: creates the catalog's products and prices once, by lookup key."""

from __future__ import annotations

from entrypoints.api.app import create_app
from tests.stripe_fake import FakeStripe
from tests.unit.fakes import fake_ports


def _run(settings, stripe, *args):
    app = create_app(settings, **fake_ports(gateway=stripe))
    return app.test_cli_runner().invoke(args=["billing", "stripe-sync", *args])


def test_dry_run_creates_nothing(settings):
    stripe = FakeStripe()
    result = _run(settings, stripe, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.count("would_create") == 4
    assert stripe.prices == {} and stripe.products == {} and stripe.writes() == []


def test_sync_creates_products_and_prices_once_and_prints_env_lines(settings):
    stripe = FakeStripe()
    first = _run(settings, stripe)
    assert first.exit_code == 0, first.output
    assert first.output.count(" created ") == 4
    assert len(stripe.prices) == 4 and len(stripe.products) == 4
    pro = next(p for p in stripe.prices.values() if p["lookup_key"] == "billing_pro_monthly")
    assert pro["unit_amount"] == 9900 and pro["recurring"]["interval"] == "month"
    once = next(p for p in stripe.prices.values() if p["lookup_key"] == "billing_white_label_once")
    assert once["recurring"] is None and once["unit_amount"] == 99900
    assert f"STRIPE_PRO_PRICE_ID={pro['id']}" in first.output
    writes = len(stripe.writes())

    second = _run(settings, stripe)
    assert second.exit_code == 0
    assert second.output.count(" exists ") == 4 and " created " not in second.output
    assert len(stripe.prices) == 4 and len(stripe.writes()) == writes  # nothing new
    assert f"STRIPE_PRO_PRICE_ID={pro['id']}" in second.output


def test_sync_reports_a_price_that_differs_from_the_catalog(settings):
    from domain.model.plans import Interval

    stripe = FakeStripe()
    stripe.add_price("billing_pro_monthly", 7900, Interval.MONTH)
    result = _run(settings, stripe)
    assert "differs" in result.output and "79.00 USD" in result.output


def test_sync_without_a_key_says_what_to_set(settings):
    app = create_app(settings, **fake_ports(gateway=None))
    result = app.test_cli_runner().invoke(args=["billing", "stripe-sync"])
    assert result.exit_code != 0
    assert "STRIPE_SECRET_KEY" in result.output
