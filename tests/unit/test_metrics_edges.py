"""The metrics counted outside the request hooks: the timed payment gateway (built around
Stripe by the bootstrap), the invoicing job's outcomes, and the configuration they read."""

from __future__ import annotations

import pytest

from adapters.metered_gateway import MeteredGateway
from domain.errors import PaymentProviderUnavailable
from entrypoints import metrics
from entrypoints.bootstrap import bootstrap
from entrypoints.config import ConfigError, load_settings
from entrypoints.worker.jobs import invoice_organization
from tests.metrics_support import value
from tests.unit.fakes import fake_ports


def own() -> str:
    return metrics.exposition(None, None).decode()


def test_each_gateway_call_is_timed_with_its_operation_and_status(stripe):
    gateway = MeteredGateway(stripe, metrics.observe_stripe)
    name = "billing_stripe_call_duration_seconds_count"
    ok = {"operation": "create_customer", "status": "ok"}
    down = {"operation": "create_customer", "status": "stripe_unavailable"}
    before = own()
    gateway.create_customer("org_s", None, None, idempotency_key="k-1")
    gateway.create_customer("org_s2", None, None, idempotency_key="k-2")
    stripe.fail_next(PaymentProviderUnavailable("Stripe is unreachable"))
    with pytest.raises(PaymentProviderUnavailable):
        gateway.create_customer("org_s3", None, None, idempotency_key="k-3")
    after = own()
    assert value(after, name, **ok) - value(before, name, **ok) == 2
    assert value(after, name, **down) - value(before, name, **down) == 1


def test_a_list_followed_to_its_end_is_one_call(stripe):
    gateway = MeteredGateway(stripe, metrics.observe_stripe)
    stripe.create_customer("org_l", None, None, idempotency_key="k-l")
    name = "billing_stripe_call_duration_seconds_count"
    labels = {"operation": "list_customers", "status": "ok"}
    before = own()
    listed = list(gateway.list_customers(page_size=1))
    after = own()
    assert len(listed) >= 1
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_the_bootstrap_times_the_stripe_gateway(settings):
    ports = fake_ports()
    configured = settings.model_copy(update={"stripe_secret_key": "sk_test_metrics"})
    container = bootstrap(configured, **ports)
    assert isinstance(container.payments.gateway, MeteredGateway)
    assert container.invoicing.gateway is container.payments.gateway


def test_the_invoicing_job_counts_its_outcome(settings):
    container = bootstrap(settings, **fake_ports())
    name = "billing_invoicing_outcomes_total"
    before = own()
    outcome = invoice_organization(container, "org_nothing", "2026-12-01T00:00:00+00:00")
    after = own()
    assert outcome == "nothing_to_bill"
    assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) == 1


def test_metrics_allowed_ips_must_be_addresses_or_networks():
    with pytest.raises(ConfigError, match="METRICS_ALLOWED_IPS"):
        load_settings(_env_file=None, metrics_allowed_ips="10.0.0.0/8, not-an-ip")
    settings = load_settings(_env_file=None, metrics_allowed_ips="10.0.0.0/8, ::1")
    assert [str(n) for n in settings.metrics_networks] == ["10.0.0.0/8", "::1/128"]


def test_the_grafana_dashboard_has_a_panel_per_metric_family():
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        exprs += [target["expr"] for target in panel["targets"]]
    families = {family.name for family in metrics.REGISTRY.collect()}
    families |= {"billing_" + name for name in metrics.STATE_FAMILIES}
    families.add("billing_metrics_source_up")
    missing = {name for name in families if not any(name in expr for expr in exprs)}
    assert missing == set()
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
