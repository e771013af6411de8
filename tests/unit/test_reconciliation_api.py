"""The reconciliation CLI and the operators' endpoints, on the fake ports."""

from __future__ import annotations

import pytest

from domain.model.reconciliation import RunStatus
from domain.model.subscriptions import SubscriptionStatus
from tests.helpers import bearer
from tests.unit.reconcile_world import build_world
from tests.unit.test_http_errors import assert_error

pytestmark = pytest.mark.usefixtures("real_time")
RUNS = "/api/v1/admin/reconciliation/runs"
ADMIN = bearer("ops", "platform_admin")


@pytest.fixture
def world(app, stripe, ports):
    return build_world(app, stripe, ports)


def test_the_cli_prints_each_drift_and_a_summary(app, world):
    result = app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "12 drifts (12 new, 0 repaired, 12 reported)" in result.output
    assert "would_repair  status_differs" in result.output
    assert "comparing with Stripe" in result.output
    assert world.store.subscriptions[world.subs["org_canceled"]].status is SubscriptionStatus.ACTIVE


def test_the_cli_fixes_then_finds_nothing_new(app, world):
    runner = app.test_cli_runner()
    fixed = runner.invoke(args=["billing", "reconcile", "--fix"])
    assert "12 drifts (12 new, 7 repaired, 5 reported)" in fixed.output, fixed.output
    again = runner.invoke(args=["billing", "reconcile", "--fix"])
    assert "5 drifts (0 new, 0 repaired, 5 reported)" in again.output, again.output
    assert again.output.count("(seen before)") == 5


def test_the_cli_dry_run_and_one_organization(app, world):
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["billing", "reconcile", "--fix", "--dry-run"])
    assert dry.output.count("would_repair") == 7 and "dry run, nothing stored" in dry.output
    assert world.store.reconciliation_runs == {}
    one = runner.invoke(args=["billing", "reconcile", "--org", "org_plan", "--fix"])
    assert "1 drifts (1 new, 1 repaired, 0 reported)" in one.output, one.output
    bad = runner.invoke(args=["billing", "reconcile", "--org", "bad org"])
    assert bad.exit_code != 0 and "invalid_organization" in bad.output


def test_the_cli_without_stripe_says_what_to_set(settings):
    from entrypoints.api.app import create_app
    from tests.unit.fakes import fake_ports

    app = create_app(settings, **fake_ports(gateway=None))
    result = app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert result.exit_code != 0 and "stripe_not_configured" in result.output


def test_an_operator_queues_a_run_and_reads_its_report(client, world, ports):
    assert client.get(f"{RUNS}/latest", headers=ADMIN).get_json() == {"run": None, "drifts": []}
    response = client.post(RUNS, json={"fix": True}, headers=ADMIN)
    assert response.status_code == 202, response.get_json()
    run = response.get_json()
    assert run["status"] == "queued" and run["fix"] is True and run["actor"] == "user:user-1"
    job, args, job_id = ports["jobs"].enqueued[-1]
    assert (job, args, job_id) == ("reconcile_books", (run["id"],), f"reconcile-{run['id']}")
    from entrypoints.worker.reconcile_jobs import reconcile_books

    container = world.container
    assert reconcile_books(container, run["id"]) == "finished: 12 drifts"
    assert reconcile_books(container, run["id"]) == "finished"  # a second job does nothing
    report = client.get(f"{RUNS}/{run['id']}", headers=ADMIN).get_json()
    assert report["run"]["status"] == "finished" and report["run"]["counts"]["repaired"] == 7
    assert len(report["drifts"]) == 12
    row = next(d for d in report["drifts"] if d["object_id"] == world.subs["org_canceled"])
    assert {k: row[k] for k in ("org_id", "kind", "ours", "stripe", "action", "new")} == {
        "org_id": "org_canceled",
        "kind": "status_differs",
        "ours": "active",
        "stripe": "canceled",
        "action": "repaired",
        "new": True,
    }
    assert row["repaired_through"] == "customer.subscription.updated" and row["first_seen_at"]
    page = client.get(f"{RUNS}/{run['id']}?limit=5&offset=10", headers=ADMIN).get_json()
    assert len(page["drifts"]) == 2
    latest = client.get(f"{RUNS}/latest", headers=ADMIN).get_json()
    assert latest["run"]["id"] == run["id"] and len(latest["drifts"]) == 12


def test_the_scheduled_run_repairs_every_organization(world):
    from entrypoints.worker.reconcile_jobs import schedule_reconciliation

    answer = schedule_reconciliation(world.container)
    run = next(iter(world.store.reconciliation_runs.values()))
    assert answer == f"{run.id}: 12 drifts"
    assert run.status is RunStatus.FINISHED and run.fix and run.actor == "scheduler:reconciliation"
    assert (
        world.store.subscriptions[world.subs["org_canceled"]].status is SubscriptionStatus.CANCELED
    )


@pytest.mark.parametrize("role", ["member", "owner", "service"])
def test_only_platform_admins_reconcile(client, role):
    assert_error(client.post(RUNS, json={}, headers=bearer("org_a", role)), 403, "forbidden_role")
    assert_error(client.get(f"{RUNS}/latest", headers=bearer("org_a", role)), 403, "forbidden_role")


@pytest.mark.parametrize(
    "body", [{"fix": "sometimes"}, {"org_id": "bad org"}, {"org_id": ""}, {"extra": 1}]
)
def test_a_bad_run_request_is_422_and_queues_nothing(client, ports, body):
    assert_error(client.post(RUNS, json=body, headers=ADMIN), 422, "validation_error")
    assert [j for j in ports["jobs"].enqueued if j[0] == "reconcile_books"] == []
    assert ports["uow"].store.reconciliation_runs == {}


def test_an_unknown_run_is_404_and_bad_paging_422(client):
    assert_error(client.get(f"{RUNS}/rec_nope", headers=ADMIN), 404, "not_found")
    assert_error(client.get(f"{RUNS}/latest?limit=0", headers=ADMIN), 422, "validation_error")


def test_without_stripe_a_run_is_refused_and_nothing_queued(settings):
    from entrypoints.api.app import create_app
    from tests.unit.fakes import fake_ports

    ports = fake_ports(gateway=None)
    client = create_app(settings, **ports).test_client()
    assert_error(client.post(RUNS, json={}, headers=ADMIN), 503, "stripe_not_configured")
    assert ports["uow"].store.reconciliation_runs == {}
