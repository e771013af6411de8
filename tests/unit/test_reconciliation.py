"""Reconciliation against the fake Stripe: every drift kind seeded behind our back, reported
once, the safe ones repaired through the webhook handlers, nothing new on a second run."""

from __future__ import annotations

from collections import Counter

import pytest

from domain.model.invoicing import InvoiceStatus
from domain.model.purchases import PurchaseStatus
from domain.model.reconciliation import DriftAction, DriftKind, ObjectType, RunStatus
from domain.model.subscriptions import SubscriptionStatus
from domain.services.reconciliation import open_run, reconcile
from tests.unit.reconcile_world import World, build_world

pytestmark = pytest.mark.usefixtures("real_time")


@pytest.fixture
def world(app, stripe, ports) -> World:
    return build_world(app, stripe, ports)


def found(drifts):
    return {(d.object_type, d.object_id, d.kind): d for d in drifts}


def run(world: World, **kwargs):
    deps = world.deps()
    result = reconcile(deps, open_run(deps, **kwargs))
    return result.run, result.drifts


def test_the_report_lists_each_seeded_drift_once_and_nothing_else(world):
    opened, drifts = run(world)
    assert Counter(d.key for d in drifts).most_common(1)[0][1] == 1
    assert set(found(drifts)) == set(world.seeded)
    assert len(drifts) == len(world.seeded) == 12
    assert {d.kind for d in drifts} == set(DriftKind) - {DriftKind.HOSTED_URL_DIFFERS}
    for key, drift in found(drifts).items():
        # Without --fix nothing changes: the safe ones are only said to be repairable.
        expected = DriftAction.WOULD_REPAIR if world.seeded[key] else DriftAction.REPORTED
        assert (key, drift.action) == (key, expected)
        assert drift.new and drift.first_seen_at == opened.started_at
    stored = world.store.reconciliation_runs[opened.id]
    assert stored.status is RunStatus.FINISHED and stored.counts.drifts == 12
    assert stored.counts.repaired == 0 and stored.counts.new_drifts == 12
    assert world.store.subscriptions[world.subs["org_canceled"]].status is SubscriptionStatus.ACTIVE
    assert not [e for e in world.store.audit if e.actor.startswith("reconcile:")]


def test_each_drift_row_says_who_it_belongs_to_and_both_values(world):
    _, drifts = run(world)
    by = found(drifts)
    canceled = by[(ObjectType.SUBSCRIPTION, world.subs["org_canceled"], DriftKind.STATUS_DIFFERS)]
    assert (canceled.org_id, canceled.ours, canceled.theirs) == (
        "org_canceled",
        "active",
        "canceled",
    )
    plan = by[(ObjectType.SUBSCRIPTION, world.subs["org_plan"], DriftKind.PLAN_DIFFERS)]
    assert plan.ours.startswith("pro ") and plan.theirs.startswith("enterprise ")
    twice = by[(ObjectType.ORGANIZATION, "org_twice", DriftKind.DUPLICATE_LIVE_SUBSCRIPTIONS)]
    assert twice.theirs == ",".join(
        sorted([world.subs["org_twice"], world.subs["org_twice_second"]])
    )
    extra = next(
        d
        for d in drifts
        if d.kind is DriftKind.MISSING_LOCALLY and d.object_type is ObjectType.INVOICE
    )
    assert (extra.org_id, extra.ours, extra.theirs) == ("org_extra_invoice", None, "open 5000 usd")
    amount = by[(ObjectType.INVOICE, world.invoices["org_amount"], DriftKind.AMOUNT_DIFFERS)]
    assert amount.ours == "250 usd in 1 lines" and amount.theirs == "350 usd in 1 lines"


def test_fix_repairs_exactly_the_safe_ones_through_the_webhook_handlers(world):
    opened, drifts = run(world, fix=True)
    actions = {key: d.action for key, d in found(drifts).items()}
    assert {k for k, a in actions.items() if a is DriftAction.REPAIRED} == {
        k for k, safe in world.seeded.items() if safe
    }
    assert {k for k, a in actions.items() if a is DriftAction.REPORTED} == {
        k for k, safe in world.seeded.items() if not safe
    }
    store = world.store
    assert store.subscriptions[world.subs["org_canceled"]].status is SubscriptionStatus.CANCELED
    assert store.subscriptions[world.subs["org_cancel_flag"]].cancel_at_period_end is True
    assert store.subscriptions[world.subs["org_plan"]].tier.value == "enterprise"
    period = world.stripe.subscriptions[world.subs["org_period"]]["items"]["data"][0]
    assert (
        int(store.subscriptions[world.subs["org_period"]].current_period_end.timestamp())
        == (period["current_period_end"])
    )
    assert store.subscriptions[world.subs["org_checkout"]].org_id == "org_checkout"
    assert store.purchases[world.purchase_id].status is PurchaseStatus.PAID
    voided = next(i for i in store.usage_invoices.values() if i.org_id == "org_voided")
    assert voided.status is InvoiceStatus.VOID
    # Money and ownership are left alone.
    edited = next(i for i in store.usage_invoices.values() if i.org_id == "org_amount")
    assert edited.total.amount_minor == 250
    assert world.subs["org_twice_second"] not in store.subscriptions
    assert world.subs["org_gone"] in store.subscriptions
    # Each repair is audited under the run, in the handler's own entries too.
    audit = [e for e in store.audit if e.actor == f"reconcile:{opened.id}"]
    repaired = [e for e in audit if e.action == "reconciliation.repaired"]
    assert len(repaired) == sum(world.seeded.values()) == 7
    assert {e.details["kind"] for e in repaired} == {
        k[2].value for k, safe in world.seeded.items() if safe
    }
    assert any(e.action == "subscription.changed" for e in audit)
    assert store.reconciliation_runs[opened.id].counts.repaired == 7


def test_the_repairs_refetch_each_object_once_and_write_nothing_to_stripe(world):
    writes = len(world.stripe.writes())
    calls = len(world.stripe.calls)
    run(world, fix=True)
    assert len(world.stripe.writes()) == writes
    retrieves = [op for op, _ in world.stripe.calls[calls:] if op.endswith(".retrieve")]
    # 4 subscriptions, the voided invoice, 2 checkout sessions (and their subscription, once).
    assert Counter(retrieves) == {
        "subscriptions.retrieve": 5,
        "invoices.retrieve": 1,
        "checkout.sessions.retrieve": 2,
    }


def test_a_second_run_reports_nothing_new(world):
    first, _ = run(world, fix=True)
    second, drifts = run(world, fix=True)
    assert set(found(drifts)) == {k for k, safe in world.seeded.items() if not safe}
    assert all(not d.new and d.action is DriftAction.REPORTED for d in drifts)
    earlier = {d.key: d for d in world.container.uow().reconciliation.drifts_of(first.id, 100)}
    assert all(d.first_seen_at == earlier[d.key].first_seen_at for d in drifts)
    counts = world.store.reconciliation_runs[second.id].counts
    assert (counts.new_drifts, counts.repaired, counts.reported) == (0, 0, 5)
    # The first run's report is kept as it was.
    assert len(earlier) == 12


def test_a_report_only_run_then_a_fix_keeps_when_each_drift_was_first_seen(world, ports):
    first, _ = run(world)
    ports["clock"].advance(hours=1)
    _, drifts = run(world, fix=True)
    assert all(not d.new for d in drifts)
    assert {d.first_seen_at for d in drifts} == {first.started_at}


def test_a_dry_run_stores_and_changes_nothing(world):
    before_inbox = dict(world.store.inbox)
    opened, drifts = run(world, fix=True, dry_run=True)
    assert len(drifts) == 12 and not opened.fix
    assert world.store.reconciliation_runs == {} and world.store.drifts == {}
    assert world.store.inbox == before_inbox
    assert world.store.subscriptions[world.subs["org_canceled"]].status is SubscriptionStatus.ACTIVE


def test_a_run_for_one_organization_compares_only_its_objects(world):
    _, drifts = run(world, org_id="org_canceled", fix=True)
    assert [(d.object_id, d.kind, d.action) for d in drifts] == [
        (world.subs["org_canceled"], DriftKind.STATUS_DIFFERS, DriftAction.REPAIRED)
    ]
    lists = [op for op, _ in world.stripe.calls if op.endswith(".list")]
    assert "customers.list" not in lists


def test_a_handler_that_refuses_a_repair_leaves_the_drift_marked_with_why(world, stripe):
    stripe.subscriptions[world.subs["org_checkout"]]["metadata"] = {}
    session = next(
        s for s in stripe.sessions.values() if s.get("subscription") == world.subs["org_checkout"]
    )
    session["client_reference_id"], session["metadata"] = None, {}
    _, drifts = run(world, fix=True)
    missed = found(drifts)[
        (ObjectType.SUBSCRIPTION, world.subs["org_checkout"], DriftKind.MISSING_LOCALLY)
    ]
    assert missed.action is DriftAction.REPAIR_FAILED
    assert "names no valid organization" in missed.note
